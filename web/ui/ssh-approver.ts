/**
 * The page's Approver for SSH logins and git signatures (issue 5), and passkeys (issue 11): each
 * SignReview from the shared cores (src/authenticator/ssh-sign-core.ts, webauthn-core.ts) becomes
 * a request card, and the card's answer becomes the core's Decision. Every outcome reaches
 * History (the SSH core records its own; web-authenticator.ts records the passkey ones).
 *
 * The card's deadline: the core acks the computer before asking (interactive), and an ack
 * makes the computer wait ACK_EXTENSION_SECONDS from then (src/computer/authenticator-client.ts
 * re-arms its timer once, whatever the agent's --sign-timeout). The card closes a few seconds
 * earlier, so a late Approve is never sent to a computer that already gave up.
 */
import { ACK_EXTENSION_SECONDS } from '../../src/protocol/protocol-constants.js';
import { DEFAULT_POLICY_HOURS, type Approver, type Decision, type SignReview } from '../../src/authenticator/sign-review.js';
import type { PolicyScope } from '../../src/authenticator/authenticator-state.js';
import type { StoredPairing } from '../../src/authenticator/authenticator-state.js';
import type { OpenCard } from '../../src/web/web-open-cards.js';
import { lookAlikes, pairingFingerprint } from '../../src/authenticator/pairing-fingerprint.js';
import { showRequestCard, type CardSpec, type TimedOption } from './request-cards.js';

/** Seconds kept between the card's deadline and the computer's, for the answer's trip over the relay. */
const ANSWER_MARGIN_SECONDS = 5;

export function signReviewCard(review: SignReview, now: number): CardSpec {
  const [title = 'Signature request', ...rest] = review.lines;
  return {
    kind: review.kind,
    title,
    from: review.computerName,
    // User and host apart, each labelled: a headline alone can be made to read as another login.
    ...(review.kind === 'ssh' && review.user !== undefined ? { facts: [['User', review.user], ['Host', review.host ?? 'unknown (no host name sent)']] as [string, string][] } : {}),
    // The core indents detail lines for a terminal; a card has its own layout.
    lines: rest.map((l) => l.replace(/^ {2}/, '')),
    ...(review.verified === undefined ? {} : { verified: review.verified }),
    // A passkey request's deadline is the page's own timeout (PROTOCOL.md §5.9 "Deadline"): an ack
    // does not extend it, so the card closes with it rather than after the ack's extension.
    expiresAt: Math.min(now + ACK_EXTENSION_SECONDS, review.kind === 'webauthn' && review.expiresAt !== undefined ? review.expiresAt : Infinity) - ANSWER_MARGIN_SECONDS,
    timedOptions: review.timedScopes.map((scope) => ({ scope, label: scopeLabel(scope, review) })),
    defaultHours: DEFAULT_POLICY_HOURS,
    awaitsDelivery: true,
    ...(review.accounts !== undefined && review.accounts.length > 1 ? { accounts: review.accounts } : {}),
    ...(review.offerAnotherKey ? { offerAnotherKey: true } : {}),
  };
}

function scopeLabel(scope: PolicyScope['kind'], review: SignReview): TimedOption['label'] {
  switch (scope) {
    case 'host':
      return `${review.user ?? '?'}@${review.host ?? '?'}`;
    case 'ssh':
      return 'all SSH logins';
    case 'git':
      return 'all git signatures';
  }
}

export class CardApprover implements Approver {
  readonly interactive = true;

  constructor(
    private readonly opts: {
      /** Aborted when the request's pairing is forgotten: the card is withdrawn. */
      signalFor?: (pairingId: string) => AbortSignal;
      /** Where open cards are remembered (web-open-cards.ts). */
      remember?: { opened(card: Omit<OpenCard, 'owner'>): Promise<void>; closed(id: string): Promise<void> };
      /** The stored pairings (for the card's pairing fingerprint and look-alike names). */
      pairings?: () => Promise<readonly StoredPairing[]>;
      /** Checked after a click: an approval for a pairing forgotten meanwhile is not signed. */
      stillPaired?: (pairingId: string) => Promise<boolean>;
    } = {},
  ) {}

  async ask(review: SignReview): Promise<Decision> {
    const spec = signReviewCard(review, Math.floor(Date.now() / 1000));
    // Which computer, beyond its name: the pairing's fingerprint, and a mark when another paired
    // computer's name reads the same (issue 16 §4).
    const all = (await this.opts.pairings?.()) ?? [];
    const pairing = all.find((p) => p.id === review.pairingId);
    if (pairing) {
      const twins = lookAlikes(pairing, all);
      spec.from = `${review.computerName} (pairing ${pairingFingerprint(pairing)})`;
      if (twins.length) spec.facts = [...(spec.facts ?? []), ['Careful', `${twins.length} other paired computer${twins.length === 1 ? '' : 's'} named like this: ${twins.map((t) => `"${t.computerName}" (pairing ${pairingFingerprint(t)})`).join(', ')}`]];
    }
    // Remembered while open, so a reload that interrupts it still leaves a History entry.
    const id = globalThis.crypto.randomUUID();
    await this.opts.remember?.opened({ id, at: Math.floor(Date.now() / 1000), kind: review.kind, title: spec.title, from: spec.from });
    const d = await showRequestCard(spec, this.opts.signalFor?.(review.pairingId)).finally(() => this.opts.remember?.closed(id));
    if ((d.kind === 'once' || d.kind === 'timed') && this.opts.stillPaired && !(await this.opts.stillPaired(review.pairingId))) {
      return { kind: 'deny', reason: 'the computer was unpaired' };
    }
    switch (d.kind) {
      case 'once':
        return d.account === undefined ? { kind: 'once' } : { kind: 'once', account: d.account };
      case 'another':
        return { kind: 'deny', reason: 'use another key', anotherKey: true };
      case 'timed': {
        // The card offers only the review's scopes; the core checks again.
        const scope = review.timedScopes.find((s) => s === d.scope);
        return scope ? { kind: 'timed', scope, seconds: d.seconds } : { kind: 'once' };
      }
      case 'deny':
        return { kind: 'deny' };
      case 'expired':
        return { kind: 'deny', reason: 'no answer in time' };
      case 'withdrawn':
        return { kind: 'deny', reason: d.reason ?? 'withdrawn' };
    }
  }
}
