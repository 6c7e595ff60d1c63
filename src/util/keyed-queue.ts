/**
 * Runs tasks one at a time per key, in call order; different keys do not wait for each other.
 * Used where a check and the write it guards must not interleave with the next caller's for the
 * same key (custody accounts, account-lock.ts; relay queues on JetStream, jetstream-relay-store.ts).
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    // The queue continues whether `fn` succeeded or failed; only the caller sees its outcome.
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
