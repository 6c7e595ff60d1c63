/**
 * Asks the person at `latch device run` (issue 3): prints the request on stderr and reads
 * one answer line from stdin, a terminal or a pipe (so scripts and tests can answer).
 * Lines that arrive while nothing is being asked are discarded: an answer typed early
 * must never approve a request the user has not seen. No answer within the prompt
 * timeout, or stdin at end of file, is a deny. Answer syntax: sign-review.ts parseAnswer.
 * WebAuthn prompts also offer "use another key", list the site's accounts by number when there
 * are several, and, when the site asks for user verification, ask for the keystore passphrase
 * after the approval (hidden on a terminal) and report `verified` only when it is right
 * (docs/BROWSER.md "User verification"). A prompt whose request has passed its deadline
 * (SignReview.expiresAt) is withdrawn: its computer stopped waiting.
 */
import type { ReadStream } from 'node:tty';
import { isLatchError } from '../util/latch-error.js';
import { cleanLine, expiredUnseen, parseAnswer, type Approver, type Decision, type SignReview } from './sign-review.js';

export class ConsoleApprover implements Approver {
  readonly interactive = true;
  #buffer = '';
  #ended = false;
  #waiting: ((line: string | undefined) => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly input: NodeJS.ReadableStream,
    private readonly write: (text: string) => void,
    private readonly promptSeconds = 50,
    private readonly log: (line: string) => void = (l) => write(`${l}\n`),
    private readonly clock: () => number = () => Math.floor(Date.now() / 1000),
    /** Checks a user-verification secret (the keystore passphrase); without it nobody is verified. */
    private readonly verifyUser?: (secret: string) => boolean | Promise<boolean>,
  ) {
    input.setEncoding?.('utf8');
    input.on('data', (chunk: string | Buffer) => {
      // A terminal in raw mode (the hidden passphrase) ends a line with CR, and passes Ctrl-C
      // through as a character: it ends the line, which then cancels.
      this.#buffer += chunk.toString().replace(/\r\n?/g, '\n').replace(/\u0003/g, '\u0003\n');
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        const w = this.#waiting;
        this.#waiting = undefined;
        w?.(line); // discarded when nobody is asking
      }
      if (this.#buffer.length > 4096) this.#buffer = '';
    });
    input.on('end', () => {
      this.#ended = true;
      this.#waiting?.(undefined);
    });
    input.on('error', () => {
      this.#ended = true;
      this.#waiting?.(undefined);
    });
  }

  ask(review: SignReview): Promise<Decision> {
    // One prompt at a time, in arrival order.
    const next = this.#queue.then(() => this.#ask(review));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #ask(review: SignReview): Promise<Decision> {
    // A request that waited behind other prompts until its computer gave up is not shown.
    if (expiredUnseen(review, this.clock())) {
      this.log(`dropped unseen: ${cleanLine(review.lines[0] ?? review.kind)} (it waited in the queue until its computer stopped waiting)`);
      return { kind: 'deny', reason: 'the computer stopped waiting before it could be shown' };
    }
    const several = review.accounts !== undefined && review.accounts.length > 1 ? review.accounts : undefined;
    const options = several ? [`1-${several.length} = sign in as that account`, 'd = deny'] : ['y = approve once', 'd = deny'];
    if (review.offerAnotherKey) options.push("k = use another key (the browser's own)");
    if (review.timedScopes.includes('host')) options.push(`h [HOURS] = ${review.user}@${review.host} for 3 h (or HOURS)`);
    if (review.timedScopes.includes('ssh')) options.push('s [HOURS] = all SSH for 3 h');
    if (review.timedScopes.includes('git')) options.push('g [HOURS] = all git signatures for 3 h');
    if (review.noTimedReason) options.push(`(no timed approval: ${review.noTimedReason})`);
    else if (review.kind === 'ssh' && review.timedScopes.length === 0) options.push('(no timed approval: host not verified)');
    // Issue 16 §4, as on the web card: user and host in their own labelled lines (the headline
    // joins them), and the pairing's fingerprint, which tells apart two computers of one name.
    const facts: string[] = [];
    if (several) facts.push(...several.map((a, i) => `  ${i + 1} = ${a}${i === 0 ? ' (used last)' : ''}`));
    if (review.kind === 'ssh' && review.user !== undefined) facts.push(`  user: ${review.user}`, `  host: ${review.host ?? 'unknown (no host name sent)'}`);
    if (review.computerFingerprint !== undefined) facts.push(`  computer "${review.computerName}", pairing ${review.computerFingerprint}`);
    this.write(['', '=== APPROVAL REQUEST ===', ...[...review.lines, ...facts].map(cleanLine), `answer: ${options.join(', ')}`, '> '].join('\n'));
    const deadline = this.#deadline(review);
    for (;;) {
      const line = await this.#line(deadline);
      if (typeof line !== 'string') return line;
      try {
        const d = parseAnswer(line, review);
        this.write(`answer: ${d.kind === 'timed' ? `${d.scope} for ${d.seconds} s` : d.kind === 'deny' && d.anotherKey ? 'use another key' : d.kind}${d.kind === 'once' && d.account !== undefined ? ` (${several?.[d.account - 1] ?? ''})` : ''}\n`);
        if (d.kind === 'once' && review.userVerification) return this.#verify(review.userVerification, d, deadline);
        return d;
      } catch (e) {
        this.write(`${isLatchError(e) ? e.message : 'not an answer'}\n> `);
      }
    }
  }

  /**
   * The prompt ends at the prompt timeout or, for WebAuthn, when the page's timeout ends the
   * request (the deadline it carried), whichever is first. (SSH and git prompts keep the prompt
   * timeout: their computer waits an ack extension that outlasts it.)
   */
  #deadline(review: SignReview): { at: number; byRequest: boolean } {
    const own = Date.now() + this.promptSeconds * 1000;
    if (review.expiresAt === undefined || review.kind !== 'webauthn') return { at: own, byRequest: false };
    const theirs = (review.expiresAt - this.clock()) * 1000 + Date.now();
    return theirs < own ? { at: theirs, byRequest: true } : { at: own, byRequest: false };
  }

  /** The next answer line, or the deny that ends the prompt. */
  async #line(deadline: { at: number; byRequest: boolean }): Promise<string | Decision> {
    for (;;) {
      if (this.#ended) {
        this.write('\n(stdin is closed: nobody can answer) denied\n');
        return { kind: 'deny', reason: 'nobody could answer' };
      }
      const left = deadline.at - Date.now();
      if (left <= 0) {
        if (deadline.byRequest) {
          this.write('\n(the computer stopped waiting: the page timed out) withdrawn\n');
          return { kind: 'deny', reason: 'the computer stopped waiting' };
        }
        this.write('\n(no answer in time) denied\n');
        return { kind: 'deny', reason: 'no answer in time' };
      }
      const line = await new Promise<string | undefined>((resolve) => {
        const t = setTimeout(() => {
          this.#waiting = undefined;
          resolve(undefined);
        }, left);
        this.#waiting = (l) => {
          clearTimeout(t);
          resolve(l);
        };
      });
      if (line !== undefined) return line;
    }
  }

  /**
   * User verification (WebAuthn L3 §6.2.3 "user verification"): the keystore passphrase, which
   * only the authenticator's owner knows, checked against the keystore; three tries. With
   * 'preferred' an empty line goes on unverified; with 'required' it is a deny.
   */
  async #verify(level: 'required' | 'preferred', d: Decision & { kind: 'once' }, deadline: { at: number; byRequest: boolean }): Promise<Decision> {
    if (!this.verifyUser) {
      if (level === 'required') this.write('(the site requires user verification, and this authenticator cannot verify) denied\n');
      return level === 'required' ? { kind: 'deny', reason: 'user verification is not available' } : d;
    }
    const tty = (this.input as Partial<ReadStream>).isTTY === true ? (this.input as ReadStream) : undefined;
    for (let tries = 0; tries < 3; tries++) {
      this.write(`verify it is you: the authenticator's passphrase${level === 'preferred' ? ' (empty: go on unverified; the site sees no verification)' : ' (the site requires it)'}\n> `);
      tty?.setRawMode(true); // no echo
      let line: string | Decision;
      try {
        line = await this.#line(deadline);
      } finally {
        tty?.setRawMode(false);
        if (tty) this.write('\n');
      }
      if (typeof line !== 'string') return line;
      if (line.includes('\u0003')) return { kind: 'deny', reason: 'cancelled' };
      const secret = tty ? erase(line) : line;
      if (secret === '' && level === 'preferred') {
        this.write('answer: once, unverified\n');
        return d;
      }
      if (secret !== '' && (await this.verifyUser(secret))) {
        this.write('answer: once, verified\n');
        return { ...d, verified: true };
      }
      this.write('not the passphrase\n');
    }
    this.write('(user verification failed) denied\n');
    return { kind: 'deny', reason: 'user verification failed' };
  }
}

/** Applies the backspaces a raw terminal passes through. */
function erase(line: string): string {
  let out = '';
  for (const ch of line) out = ch === '\u007f' || ch === '\b' ? out.slice(0, -1) : out + ch;
  return out;
}
