import type { StoredMessage } from './relay-store.js';

/**
 * A stored message as announced to its readers. `previousId` is the message before it in the
 * same queue when it was appended ("0": none), when the store knows it: a reader on another
 * node can then tell whether an earlier message's announcement is still on its way (wake-ups
 * between nodes are not ordered, PROTOCOL.md §3.6) and must read the store instead.
 */
export interface Arrival extends StoredMessage {
  readonly previousId?: string;
}

/**
 * Wake-ups: long-polls and WebSocket subscribers wait here for "a message was stored in
 * queue Q", told the message itself when the storer has it at hand (so a delivering subscriber
 * need not read it back, §3.5), possibly without it, which listeners must accept.
 */
export type QueueListener = (message?: Arrival, early?: boolean) => void;

export interface QueueWakes {
  /** Returns an unsubscribe function. */
  listen(queue: string, fn: QueueListener): () => void;
  /**
   * `early`: the message is not committed yet (PROTOCOL.md §3.6, "Early delivery"); only
   * subscriptions that asked for early delivery act on it, and the same message is announced
   * again, without `early`, once its batch has committed.
   */
  notify(queue: string, message?: Arrival, early?: boolean): void;
  /**
   * Whether a reader of `queue` listens on this node (Web Push: a live reader needs no push,
   * PROTOCOL.md §3.9). A reader on another node is not seen: see docs/SCALING.md.
   */
  has(queue: string): boolean;
  readonly size: number;
}

/**
 * In-process wake-ups, for a relay that is one process (the SQLite store). A store shared by
 * several nodes brings its own QueueWakes (RelayStore.wakes), which reach the other nodes.
 */
export class QueueNotifier implements QueueWakes {
  readonly #listeners = new Map<string, Set<QueueListener>>();
  #count = 0;

  /** Returns an unsubscribe function. */
  listen(queue: string, fn: QueueListener): () => void {
    let set = this.#listeners.get(queue);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(queue, set);
    }
    const entry: QueueListener = (m, early) => fn(m, early);
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

  notify(queue: string, message?: Arrival, early?: boolean): void {
    const set = this.#listeners.get(queue);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(message, early);
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
