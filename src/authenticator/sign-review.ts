/**
 * What the authenticator shows before it signs (issue 3), the user's possible answers,
 * and the answer syntax of `latch device run` (docs/AGENT.md "Answering on the
 * authenticator"). Pure.
 */
import { LatchError } from '../util/latch-error.js';
import type { PolicyScope } from './authenticator-state.js';

export interface SignReview {
  computerName: string;
  pairingId: string;
  /** "ab12 cd34": tells apart computers that share a name (issue 16 §4; pairing-fingerprint.ts). */
  computerFingerprint?: string;
  kind: 'ssh' | 'git' | 'sshsig' | 'message' | 'webauthn';
  keyName: string;
  keyFingerprint: string;
  /** ssh: the login. */
  user?: string;
  /** ssh: the host name the user typed (from the agent's hint), if known. */
  host?: string;
  hostKeyFingerprint?: string;
  verified?: boolean;
  /** ssh-keygen -Y / sign_message: the SSHSIG namespace. */
  namespace?: string;
  /** The lines shown to the user, in order. */
  lines: string[];
  /** Which timed approvals this request may be given ([] = approve once or deny only). */
  timedScopes: PolicyScope['kind'][];
  /** Why timedScopes is empty when the kind of request would otherwise have some. */
  noTimedReason?: string;
  /** When the computer sent it (unix seconds, its clock), for showing the request's age. */
  sentAt?: number;
  /** After this (unix seconds, this clock) nobody waits for the answer: drop the prompt unseen. */
  expiresAt?: number;
  /**
   * WebAuthn (docs/BROWSER.md "Choices on the authenticator"): the accounts to choose among, most
   * recently used first, when a site's discoverable login finds several; the answer names one
   * (Decision `account`, 1-based). Undefined or one account: nothing to choose.
   */
  accounts?: string[];
  /** WebAuthn: the person may answer "use another key" (Decision deny with `anotherKey`). */
  offerAnotherKey?: boolean;
  /** WebAuthn: the site asks for user verification; an approver that can verify says so in `verified`. */
  userVerification?: 'required' | 'preferred';
}

/**
 * Whether a prompt is for a request its computer no longer waits for (issue 12, ghost
 * prompts). Every approver checks this before showing a request that waited in a queue.
 */
export function expiredUnseen(review: SignReview, nowSeconds: number): boolean {
  return review.expiresAt !== undefined && nowSeconds > review.expiresAt;
}

/**
 * `once` may carry the chosen account (1-based, SignReview.accounts) and whether the approver
 * verified the user (WebAuthn UV). "Use another key" is a deny with `anotherKey`: whoever does
 * not know it treats it as the deny it is.
 */
export type Decision =
  | { kind: 'once'; account?: number; verified?: boolean }
  | { kind: 'deny'; reason?: string; anotherKey?: boolean }
  | { kind: 'timed'; scope: PolicyScope['kind']; seconds: number };

export interface Approver {
  /** True when a person is asked (then the computer gets an ack first). */
  readonly interactive: boolean;
  ask(review: SignReview): Promise<Decision>;
}

/** Denies everything: what a request handler does when nobody can be asked. */
export const denyAll: Approver = { interactive: false, ask: async () => ({ kind: 'deny', reason: 'nobody to ask' }) };
/** `latch device run --auto-approve`: each request once, never a timed policy. */
export const approveOnce: Approver = { interactive: false, ask: async () => ({ kind: 'once' }) };

export const DEFAULT_POLICY_HOURS = 3;
/** The longest timed approval (7 days): asked for, granted, and re-checked on every use (policy-book.ts). */
export const MAX_POLICY_SECONDS = 7 * 24 * 3600;

/**
 * The answer syntax:
 *   y | yes | a | once          approve once
 *   n | no | d | deny           deny
 *   h [DURATION]                approve this user@host for DURATION (default 3h)
 *   s [DURATION]                approve all SSH logins for DURATION
 *   g [DURATION]                approve all git signatures for DURATION
 *   k | another                 use another key (WebAuthn, when the review offers it)
 *   1..N                        approve as that account (WebAuthn, when the review lists accounts;
 *                               then a number is required: y alone does not say which)
 * DURATION is hours ("2", "1.5") or a number with a unit: "90m", "3h", "30s".
 */
export function parseAnswer(line: string, review?: Pick<SignReview, 'accounts' | 'offerAnotherKey'>): Decision {
  const t = line.trim().toLowerCase();
  const accounts = review?.accounts !== undefined && review.accounts.length > 1 ? review.accounts.length : 0;
  if (review?.offerAnotherKey && ['k', 'another'].includes(t)) return { kind: 'deny', reason: 'use another key', anotherKey: true };
  if (accounts > 0 && /^[0-9]{1,3}$/.test(t)) {
    const n = Number(t);
    if (n < 1 || n > accounts) throw new LatchError('bad_answer', `no account ${n}: answer 1 to ${accounts}`);
    return { kind: 'once', account: n };
  }
  if (['y', 'yes', 'a', 'once', 'approve'].includes(t)) {
    if (accounts > 0) throw new LatchError('bad_answer', `which account? answer its number, 1 to ${accounts}`);
    return { kind: 'once' };
  }
  if (['n', 'no', 'd', 'deny'].includes(t)) return { kind: 'deny' };
  const m = /^([hsg])(?:\s+(.+))?$/.exec(t);
  if (!m) throw new LatchError('bad_answer', `not an answer: "${line.trim().slice(0, 40)}" (y, d, h [N], s [N], g [N])`);
  const scope = ({ h: 'host', s: 'ssh', g: 'git' } as const)[m[1] as 'h' | 's' | 'g'];
  return { kind: 'timed', scope, seconds: parseDuration(m[2]) };
}

export function parseDuration(text: string | undefined): number {
  if (text === undefined) return DEFAULT_POLICY_HOURS * 3600;
  const m = /^([0-9]{1,6}(?:\.[0-9]{1,3})?)\s*(s|m|h)?$/.exec(text.trim());
  if (!m) throw new LatchError('bad_answer', `not a duration: "${text.slice(0, 20)}" (e.g. 3, 90m, 2h)`);
  const unit = m[2] === 's' ? 1 : m[2] === 'm' ? 60 : 3600;
  const seconds = Math.round(Number(m[1]) * unit);
  if (seconds < 1 || seconds > MAX_POLICY_SECONDS) throw new LatchError('bad_answer', 'a duration must be between 1 second and 7 days');
  return seconds;
}

export function describeScope(scope: PolicyScope): string {
  switch (scope.kind) {
    case 'host':
      return `SSH as ${scope.user}@${scope.host}`;
    case 'ssh':
      return 'all SSH logins';
    case 'git':
      return 'all git signatures';
  }
}

/**
 * Characters a peer's text must not carry onto a card, a terminal or a log: every control (Cc:
 * C0, DEL, C1 - they drive a terminal; a line break would forge a line) and every format
 * character (Cf: the bidi embeddings, overrides and isolates U+202A-202E, U+2066-2069, the marks
 * U+200E/200F/061C, zero-width U+200B-200D, U+2060-2064, U+FEFF, the soft hyphen U+00AD, tag
 * characters...), which can reorder or hide text so that "evil" reads as "live" (Unicode UAX #9,
 * CVE-2021-42574 "Trojan Source"). Also the line and paragraph separators (Zl, Zp), which some
 * renderers break on, and lone surrogates (Cs), which are not text.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * Terminal and card safety: what a computer sent must not drive the authenticator's terminal or
 * log, nor reorder or hide what the card shows. A tab becomes a space (it is harmless but a
 * control); everything else unsafe becomes a visible "?".
 */
export function cleanLine(line: string): string {
  return line.replace(UNSAFE, (c) => (c === '\t' ? ' ' : '?')).replace(LONG_SPACE_RUN, (run) => ` [${[...run].length} spaces] `);
}

/**
 * A run of spaces this long (any Unicode space separator, Zs: no-break spaces too) is shown as
 * "[N spaces]": 400 no-break spaces after "deploy@prod.example.com" pushed the real host and its
 * badge out of a card's headline, and long runs let a commit message line wrap without its "|"
 * marker to fake a line of the card (issue 16 §4). Code indentation (up to 7) stays as it is.
 */
const LONG_SPACE_RUN = /\p{Zs}{8,}/gu;
