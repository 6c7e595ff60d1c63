/**
 * Request cards (issue 5): every SSH login, git signature, passkey request (issue 11) and custody
 * request that needs the user appears as an <article> with what is asked, the time left, Approve (once, or for N hours
 * where the request allows it) and Deny. One card per request; the promise settles once, on the
 * first of: a click, the deadline, or `signal` (the request was answered elsewhere).
 *
 * The card shows only text (never HTML from a peer), and control characters are replaced, as
 * `cleanLine` does for `latch device run`'s terminal.
 */
import { cleanLine } from '../../src/authenticator/sign-review.js';
import { byId, formatSeconds, h } from './dom.js';
import { guard, rearmAll, tapCounts, unguard } from './tap-guard.js';

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
  /** Labelled fields shown above the details (e.g. ssh: User, Host), each value on its own. */
  facts?: [label: string, value: string][];
  /** Details, one per line, in order. */
  lines: string[];
  /** ssh: whether the host proved its key; shown as a badge. */
  verified?: boolean;
  /** Unix seconds after which the request can no longer be answered. */
  expiresAt: number;
  /** Timed approvals this request may be given; [] = once or deny only. */
  timedOptions: TimedOption[];
  defaultHours?: number;
  /**
   * The answer goes to the computer after the card closes (SSH and git: web-authenticator.ts
   * reports its delivery through settledSays): an approval's line says "sending" until then.
   */
  awaitsDelivery?: boolean;
  /**
   * Passkeys (docs/BROWSER.md "Choices on the authenticator"): the site's accounts, most recently
   * used first, when a sign-in finds several. The person must pick one before Approve counts,
   * as `latch device run` requires a number.
   */
  accounts?: string[];
  /** Passkeys: a "Use another key" button, answered as a deny the browser falls back on. */
  offerAnotherKey?: boolean;
}

export type CardDecision =
  | { kind: 'once'; account?: number }
  | { kind: 'another' }
  | { kind: 'deny' } | { kind: 'timed'; scope: string; seconds: number } | { kind: 'expired' } | { kind: 'withdrawn'; reason?: string };

let nextId = 0;
/** Every open card's settle, so all can be closed at once with a reason (closeAllCards). */
const openSettles = new Set<(d: CardDecision) => void>();

/**
 * Closes every open card, each left as a line saying why (issue 16 §5: storage cleared under
 * an open card). Each counts as withdrawn: nothing is signed.
 */
export function closeAllCards(reason: string): void {
  for (const settle of [...openSettles]) settle({ kind: 'withdrawn', reason });
}

/**
 * Tap-jacking guard (tap-guard.ts): a card's buttons must not change under a finger. New cards
 * go BELOW the open ones (never on top, which would push them down); an answered card leaves a
 * plain line of exactly its height in its place, and those lines go only once no card is open,
 * so an open card never moves (issue 16 §3: a tap aimed at B's Approve 1.85 s after answering A
 * must not land on C, which a collapse had moved there). Whatever still moves an Approve
 * (a status line above growing, a re-render) re-arms it, and a card appearing or going re-arms
 * every Approve for ARM_MS, so a double tap or a request timed to arrive just before a tap
 * cannot make that tap count.
 */
/** How long answered cards' spaces stay once no card is open (as "Approved" / "Denied" lines). */
const SETTLE_MS = 1000;
let collapseTimer: ReturnType<typeof setTimeout> | undefined;

/** Once no card is open (nothing left to tap), remove the answered cards' spaces after SETTLE_MS. */
function collapseWhenIdle(): void {
  clearTimeout(collapseTimer);
  const cards = byId('cards');
  if (cards.querySelector('article')) return;
  collapseTimer = setTimeout(() => {
    if (cards.querySelector('article')) return;
    for (const s of cards.querySelectorAll('.request.settled')) s.remove();
    updateEmptyState();
  }, SETTLE_MS);
}

/**
 * An approval is not "Approved." until the computer has it (issue 16 §5 "Offline at the click"):
 * the line says so once the answer is sent (settledSays), or that it is not delivered yet.
 */
const SENDING_TEXT = 'Approved, sending…';
const SETTLED_TEXT: Record<CardDecision['kind'], string> = {
  once: 'Approved.',
  timed: 'Approved.',
  deny: 'Denied.',
  another: 'Left to another key.',
  expired: 'No answer in time: denied.',
  withdrawn: 'Withdrawn.',
};

function settledText(spec: CardSpec, d: CardDecision): string {
  if (d.kind === 'withdrawn' && d.reason) return `Closed: ${d.reason}.`;
  if ((d.kind === 'once' || d.kind === 'timed') && spec.awaitsDelivery) return SENDING_TEXT;
  return SETTLED_TEXT[d.kind];
}

/** Updates the answered card line of the request titled `title` (if still shown) with where its answer stands. */
export function settledSays(title: string, text: string): void {
  const lines = [...byId('cards').querySelectorAll<HTMLElement>('.request.settled')].filter((s) => s.dataset.title === title);
  const line = lines.at(-1);
  if (line) line.textContent = `${cleanLine(title)}: ${text}`;
}

function updateEmptyState(): void {
  const cards = byId('cards');
  const live = byId('requests-live');
  live.hidden = cards.childElementCount === 0;
  byId('no-requests').hidden = cards.childElementCount !== 0;
}

/**
 * The details, one block per line. A quoted line of peer text ("| ...", a commit message) is its
 * own block with a bar down its left edge, so where it wraps every visual line still shows the
 * bar: signed text cannot wrap into what looks like one of the card's own lines (issue 16 §4).
 */
function detailsBlock(lines: readonly string[]): HTMLElement {
  return h(
    'div',
    { class: 'details' },
    ...lines.map((l) => {
      const m = /^(\s*)\| ?(.*)$/.exec(l);
      return m ? h('div', { class: 'quoted', text: cleanLine(`| ${m[2]!}`) }) : h('div', { class: 'line', text: cleanLine(l) });
    }),
  );
}

export function showRequestCard(spec: CardSpec, signal?: AbortSignal): Promise<CardDecision> {
  const id = `req-${++nextId}`;
  const left = h('p', { class: 'time-left', 'aria-live': 'off' });
  const remember = h('select', { id: `${id}-remember` }, h('option', { value: '', text: 'Once only' }), ...spec.timedOptions.map((o) => h('option', { value: o.scope, text: `${cleanLine(o.label)}, for…` })));
  const hours = h('input', { id: `${id}-hours`, type: 'number', min: '1', max: '168', step: '1', value: String(spec.defaultHours ?? 3), inputmode: 'numeric' });
  // Hours mean something only with a timed choice; disabled for "Once only" so it is not misread.
  hours.disabled = true;
  remember.addEventListener('change', () => (hours.disabled = remember.value === ''));
  const timed = spec.timedOptions.length
    ? h('div', { class: 'remember' }, h('label', { for: remember.id, text: 'Approve' }), remember, h('label', { for: hours.id, text: 'Hours' }), hours)
    : h('p', { class: 'muted', text: spec.kind === 'ssh' ? 'This host is not verified: approve once only.' : 'Approve once only.' });
  const approve = h('button', { type: 'button', class: 'primary', text: 'Approve' });
  const deny = h('button', { type: 'button', class: 'danger', text: 'Deny' });
  // A radio per account, none chosen: a default would sign in as whoever was used last unseen.
  const accounts = spec.accounts !== undefined && spec.accounts.length > 1 ? spec.accounts : [];
  const accountRadios = accounts.map((name, i) => h('input', { type: 'radio', name: `${id}-account`, id: `${id}-account-${i + 1}`, value: String(i + 1) }));
  const chooser = accounts.length
    ? h(
        'fieldset',
        { class: 'accounts' },
        h('legend', { text: 'Sign in as' }),
        ...accountRadios.map((r, i) => h('div', {}, r, h('label', { for: r.id, text: cleanLine(accounts[i]!) }))),
      )
    : undefined;
  const another = spec.offerAnotherKey ? h('button', { type: 'button', class: 'secondary', text: 'Use another key' }) : undefined;
  const badge = spec.verified === undefined ? undefined : h('span', { class: spec.verified ? 'badge ok' : 'badge warn', text: spec.verified ? 'verified host' : 'host NOT verified' });
  const card = h(
    'article',
    { class: `request ${spec.kind}`, 'aria-labelledby': `${id}-title`, 'data-kind': spec.kind, tabindex: '-1' },
    h('h3', { id: `${id}-title` }, cleanLine(spec.title), badge ? ' ' : '', badge),
    h('p', { class: 'from', text: `from ${cleanLine(spec.from)}` }),
    spec.facts?.length ? h('dl', { class: 'facts' }, ...spec.facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: cleanLine(v) })])) : undefined,
    detailsBlock(spec.lines),
    chooser,
    left,
    timed,
    h('div', { class: 'buttons' }, deny, another, approve),
  );
  clearTimeout(collapseTimer); // a card is open again: the answered ones' spaces stay
  byId('cards').append(card);
  updateEmptyState();
  guard(approve);
  rearmAll();

  return new Promise<CardDecision>((resolve) => {
    let done = false;
    const settle = (d: CardDecision): void => {
      if (done) return;
      done = true;
      openSettles.delete(settle);
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      unguard(approve);
      // Keep the card's space, as a plain line (not an article: it asks nothing now), of exactly
      // its height so nothing below moves.
      const spacer = h('div', { class: 'request settled', role: 'note', 'data-title': spec.title, text: `${cleanLine(spec.title)}: ${settledText(spec, d)}` });
      spacer.style.height = `${card.getBoundingClientRect().height}px`;
      card.replaceWith(spacer);
      rearmAll();
      collapseWhenIdle();
      resolve(d);
    };
    openSettles.add(settle);
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
    another?.addEventListener('click', () => settle({ kind: 'another' }));
    approve.addEventListener('click', () => {
      // Moved, or not settled in place long enough since: this tap was aimed at something else.
      if (!tapCounts(approve)) return;
      // A tab throttled in the background may run its timer late: the deadline is checked here too.
      if (Date.now() / 1000 >= spec.expiresAt) return settle({ kind: 'expired' });
      if (accountRadios.length) {
        const picked = accountRadios.find((r) => r.checked);
        if (!picked) {
          accountRadios[0]!.setCustomValidity('Choose the account to sign in as');
          accountRadios[0]!.reportValidity();
          return;
        }
        return settle({ kind: 'once', account: Number(picked.value) });
      }
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
    if (!done && byId('cards').querySelectorAll('article').length === 1) card.focus();
  });
}
