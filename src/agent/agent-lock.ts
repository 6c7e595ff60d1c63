/**
 * `ssh-add -x` / `ssh-add -X` for `latch agent` (draft-miller-ssh-agent §3.6 "Locking and
 * unlocking an agent"). While locked the agent lists no key and signs nothing, the
 * authenticator's keys included, until it is unlocked with the same passphrase. As OpenSSH's
 * ssh-agent (process_lock_agent): locking a locked agent or unlocking an unlocked one fails, the
 * passphrase is kept only as a salted slow hash, and each wrong unlock passphrase makes the
 * next answer wait longer (0.1 s per failure so far, at most 10 s), so guessing is slow.
 * Unlock attempts are answered one at a time, so parallel guesses wait for each other. Node only.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** OpenSSH: fail_count < 100, delay 100 ms per failure. */
const DELAY_STEP_MS = 100;
const MAX_FAILURES_COUNTED = 100;

function hash(passphrase: Uint8Array, salt: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(passphrase, salt, 32, (e, key) => (e ? reject(e) : resolve(key))));
}

export class AgentLock {
  #salt: Uint8Array | undefined;
  #hash: Buffer | undefined;
  #failures = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly log: (line: string) => void = () => undefined,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  get locked(): boolean {
    return this.#hash !== undefined;
  }

  /** True when this call locked the agent; false when it was locked already. */
  async lock(passphrase: Uint8Array): Promise<boolean> {
    return this.#serial(async () => {
      if (this.locked) return false;
      const salt = randomBytes(16);
      this.#hash = await hash(passphrase, salt);
      this.#salt = salt;
      this.log('agent locked: no key is listed or used until it is unlocked (ssh-add -X)');
      return true;
    });
  }

  /** True when the passphrase matched and the agent is now unlocked. A wrong one answers late. */
  async unlock(passphrase: Uint8Array): Promise<boolean> {
    return this.#serial(async () => {
      if (!this.#hash || !this.#salt) return false;
      const candidate = await hash(passphrase, this.#salt);
      if (timingSafeEqual(candidate, this.#hash)) {
        this.#hash = this.#salt = undefined;
        this.#failures = 0;
        this.log('agent unlocked');
        return true;
      }
      if (this.#failures < MAX_FAILURES_COUNTED) this.#failures++;
      const delay = DELAY_STEP_MS * this.#failures;
      this.log(`wrong unlock passphrase (failure ${this.#failures}): answering in ${(delay / 1000).toFixed(1)} s`);
      await this.sleep(delay);
      return false;
    });
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
