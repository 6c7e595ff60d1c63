/**
 * Request cards (issue 5): every SSH login, git signature and custody request that needs the
 * user appears as an <article> with what is asked, the time left, Approve (once, or for N hours
 * where the request allows it) and Deny. One card per request; the promise settles once, on the
 * first of: a click, the deadline, or `signal` (the request was answered elsewhere).
 *
 * The card shows only text (never HTML from a peer), and control characters are replaced, as
 * `cleanLine` does for `latch device run`'s terminal.
 */
import { cleanLine } from '../../src/authenticator/sign-review.js';
import { byId, formatSeconds, h } from './dom.js';

export interface TimedOption {
  /** Opaque to the card: handed back in the decision (e.g. 'host' | 'ssh' | 'git'). */
  scope: string;
  /** "me@server", "all SSH logins", "all git signatures". */
  label: string;
}

export interface CardSpec {
  kind: 'ssh' | 'git' | 'sshsig' | 'message' | 'join' | 'custody-sign' | 'webauthn';
  /** The headline: "SSH login as me@server". */
  title: string;
  /** Who asks: the computer's name, or the new device's origin. */
  from: string;
  /** Details, one per line, in order. */
  lines: string[];
  /** ssh: whether the host proved its key; shown as a badge. */
  verified?: boolean;
  /** Unix seconds after which the request can no longer be answered. */
  expiresAt: number;
  /** Timed approvals this request may be given; [] = once or deny only. */
  timedOptions: TimedOption[];
  defaultHours?: number;
}

export type CardDecision = { kind: 'once' } | { kind: 'deny' } | { kind: 'timed'; scope: string; seconds: number } | { kind: 'expired' } | { kind: 'withdrawn' };

let nextId = 0;

/**
 * Tap-jacking guard. A card's buttons must not change under a finger: new cards go BELOW the
 * open ones (never on top, which would push them down), an answered card keeps its space for
 * a moment, and after any card appears or goes, every Approve stays disabled for ARM_MS, so a
 * tap aimed at one card (or a double tap) cannot land on another card's Approve. A peer can
 * time its request to arrive just before the user's tap; it cannot make that tap count.
 */
const ARM_MS = 700;
/** How long an answered card's space is kept (as a short "Approved" / "Denied" line). */
const SETTLE_MS = 1000;
const approveButtons = new Set<HTMLButtonElement>();
let armTimer: ReturnType<typeof setTimeout> | undefined;

function cardsMoved(): void {
  for (const b of approveButtons) b.disabled = true;
  clearTimeout(armTimer);
  armTimer = setTimeout(() => {
    for (const b of approveButtons) b.disabled = false;
  }, ARM_MS);
}

const SETTLED_TEXT: Record<CardDecision['kind'], string> = {
  once: 'Approved.',
  timed: 'Approved.',
  deny: 'Denied.',
  expired: 'No answer in time: denied.',
  withdrawn: 'Withdrawn.',
};

function updateEmptyState(): void {
  const cards = byId('cards');
  const live = byId('requests-live');
  live.hidden = cards.childElementCount === 0;
  byId('no-requests').hidden = cards.childElementCount !== 0;
}

export function showRequestCard(spec: CardSpec, signal?: AbortSignal): Promise<CardDecision> {
  const id = `req-${++nextId}`;
  const left = h('p', { class: 'time-left', 'aria-live': 'off' });
  const remember = h('select', { id: `${id}-remember` }, h('option', { value: '', text: 'Once only' }), ...spec.timedOptions.map((o) => h('option', { value: o.scope, text: `${o.label}, for…` })));
  const hours = h('input', { id: `${id}-hours`, type: 'number', min: '1', max: '168', step: '1', value: String(spec.defaultHours ?? 3), inputmode: 'numeric' });
  // Hours mean something only with a timed choice; disabled for "Once only" so it is not misread.
  hours.disabled = true;
  remember.addEventListener('change', () => (hours.disabled = remember.value === ''));
  const timed = spec.timedOptions.length
    ? h('div', { class: 'remember' }, h('label', { for: remember.id, text: 'Approve' }), remember, h('label', { for: hours.id, text: 'Hours' }), hours)
    : h('p', { class: 'muted', text: spec.kind === 'ssh' ? 'This host is not verified: approve once only.' : 'Approve once only.' });
  const approve = h('button', { type: 'button', class: 'primary', text: 'Approve' });
  const deny = h('button', { type: 'button', class: 'danger', text: 'Deny' });
  const badge = spec.verified === undefined ? undefined : h('span', { class: spec.verified ? 'badge ok' : 'badge warn', text: spec.verified ? 'verified host' : 'host NOT verified' });
  const card = h(
    'article',
    { class: `request ${spec.kind}`, 'aria-labelledby': `${id}-title`, 'data-kind': spec.kind, tabindex: '-1' },
    h('h3', { id: `${id}-title` }, cleanLine(spec.title), badge ? ' ' : '', badge),
    h('p', { class: 'from', text: `from ${cleanLine(spec.from)}` }),
    h('pre', { class: 'details', text: spec.lines.map(cleanLine).join('\n') }),
    left,
    timed,
    h('div', { class: 'buttons' }, deny, approve),
  );
  byId('cards').append(card);
  approveButtons.add(approve);
  cardsMoved();
  updateEmptyState();

  return new Promise<CardDecision>((resolve) => {
    let done = false;
    const settle = (d: CardDecision): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      approveButtons.delete(approve);
      // Keep the card's space for a moment, as a plain line (not an article: it asks nothing now).
      const spacer = h('div', { class: 'request settled', role: 'note', text: `${cleanLine(spec.title)}: ${SETTLED_TEXT[d.kind]}` });
      spacer.style.minHeight = `${card.offsetHeight}px`;
      card.replaceWith(spacer);
      setTimeout(() => {
        spacer.remove();
        cardsMoved();
        updateEmptyState();
      }, SETTLE_MS);
      resolve(d);
    };
    const tick = (): void => {
      const s = spec.expiresAt - Math.floor(Date.now() / 1000);
      if (s <= 0) settle({ kind: 'expired' });
      else left.textContent = `${formatSeconds(s)} left`;
    };
    const timer = setInterval(tick, 1000);
    tick();
    const onAbort = (): void => settle({ kind: 'withdrawn' });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    deny.addEventListener('click', () => settle({ kind: 'deny' }));
    approve.addEventListener('click', () => {
      // A tab throttled in the background may run its timer late: the deadline is checked here too.
      if (Date.now() / 1000 >= spec.expiresAt) return settle({ kind: 'expired' });
      const scope = remember.value;
      if (!scope) return settle({ kind: 'once' });
      const n = Number(hours.value);
      if (!Number.isFinite(n) || n < 1 || n > 168) {
        hours.setCustomValidity('Between 1 and 168 hours');
        hours.reportValidity();
        return;
      }
      settle({ kind: 'timed', scope, seconds: Math.round(n) * 3600 });
    });
    // Focus the card itself, not a button: a stray Enter must never approve. Only when it is the
    // only card: focusing (and scrolling to) a second card would move the first under the finger.
    if (!done && approveButtons.size === 1) card.focus();
  });
}
