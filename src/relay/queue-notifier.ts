/**
 * In-process wake-ups: long-polls and WebSocket subscribers wait here for "a message
 * was stored in queue Q". One relay process only; a multi-process relay would feed
 * this from PostgreSQL LISTEN or NATS (PROTOCOL.md §3.6).
 */
export class QueueNotifier {
  readonly #listeners = new Map<string, Set<() => void>>();
  #count = 0;

  /** Returns an unsubscribe function. */
  listen(queue: string, fn: () => void): () => void {
    let set = this.#listeners.get(queue);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(queue, set);
    }
    const entry = () => fn();
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

  notify(queue: string): void {
    const set = this.#listeners.get(queue);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn();
      } catch {
        // a listener's failure must not stop the others
      }
    }
  }

  get size(): number {
    return this.#count;
  }
}
