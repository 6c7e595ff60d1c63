import type { StoredMessage } from './relay-store.js';

/**
 * In-process wake-ups: long-polls and WebSocket subscribers wait here for "a message
 * was stored in queue Q", told the message itself when the storer has it at hand (so a
 * delivering subscriber need not read it back, §3.5). One relay process only; a multi-process
 * relay would feed this from PostgreSQL LISTEN or NATS (PROTOCOL.md §3.6), possibly without
 * the message, which listeners must accept.
 */
export type QueueListener = (message?: StoredMessage) => void;

export class QueueNotifier {
  readonly #listeners = new Map<string, Set<QueueListener>>();
  #count = 0;

  /** Returns an unsubscribe function. */
  listen(queue: string, fn: QueueListener): () => void {
    let set = this.#listeners.get(queue);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(queue, set);
    }
    const entry: QueueListener = (m) => fn(m);
    set.add(entry);
    this.#count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#count--;
      const s = this.#listeners.get(queue);
      if (s === undefined) return;
      s.delete(entry);
      if (s.size === 0) this.#listeners.delete(queue);
    };
  }

  notify(queue: string, message?: StoredMessage): void {
    const set = this.#listeners.get(queue);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(message);
      } catch {
        // a listener's failure must not stop the others
      }
    }
  }

  /** Whether anyone listens on `queue` now (a live socket subscriber or a waiting long-poll). */
  has(queue: string): boolean {
    return this.#listeners.has(queue);
  }

  get size(): number {
    return this.#count;
  }
}
