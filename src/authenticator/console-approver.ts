/**
 * Asks the person at `latch device run` (issue 3): prints the request on stderr and reads
 * one answer line from stdin, a terminal or a pipe (so scripts and tests can answer).
 * Lines that arrive while nothing is being asked are discarded: an answer typed early
 * must never approve a request the user has not seen. No answer within the prompt
 * timeout, or stdin at end of file, is a deny. Answer syntax: sign-review.ts parseAnswer.
 */
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
  ) {
    input.setEncoding?.('utf8');
    input.on('data', (chunk: string | Buffer) => {
      this.#buffer += chunk.toString();
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
    const options = ['y = approve once', 'd = deny'];
    if (review.timedScopes.includes('host')) options.push(`h [HOURS] = ${review.user}@${review.host} for 3 h (or HOURS)`);
    if (review.timedScopes.includes('ssh')) options.push('s [HOURS] = all SSH for 3 h');
    if (review.timedScopes.includes('git')) options.push('g [HOURS] = all git signatures for 3 h');
    if (review.noTimedReason) options.push(`(no timed approval: ${review.noTimedReason})`);
    else if (review.kind === 'ssh' && review.timedScopes.length === 0) options.push('(no timed approval: host not verified)');
    // Issue 16 §4, as on the web card: user and host in their own labelled lines (the headline
    // joins them), and the pairing's fingerprint, which tells apart two computers of one name.
    const facts: string[] = [];
    if (review.kind === 'ssh' && review.user !== undefined) facts.push(`  user: ${review.user}`, `  host: ${review.host ?? 'unknown (no host name sent)'}`);
    if (review.computerFingerprint !== undefined) facts.push(`  computer "${review.computerName}", pairing ${review.computerFingerprint}`);
    this.write(['', '=== APPROVAL REQUEST ===', ...[...review.lines, ...facts].map(cleanLine), `answer: ${options.join(', ')}`, '> '].join('\n'));
    const deadline = Date.now() + this.promptSeconds * 1000;
    for (;;) {
      if (this.#ended) {
        this.write('\n(stdin is closed: nobody can answer) denied\n');
        return { kind: 'deny', reason: 'nobody could answer' };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
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
      if (line === undefined) continue;
      try {
        const d = parseAnswer(line);
        this.write(`answer: ${d.kind === 'timed' ? `${d.scope} for ${d.seconds} s` : d.kind}\n`);
        return d;
      } catch (e) {
        this.write(`${isLatchError(e) ? e.message : 'not an answer'}\n> `);
      }
    }
  }
}
