/**
 * Sending an answer until the relay has it (issue 16 §5 "Offline at the click"). A tap on Approve
 * while the relay is down used to end in "Approved." and an "approved" History entry while the
 * answer was lost after RelayClient.send's 20 s of retries, and ssh failed 61 s later. Here the
 * first failed try is reported at once (the page then says "not delivered, retrying"), and the
 * answer is sent again the moment the relay's inbox reconnects, or after a short backoff, until
 * the computer has stopped waiting. Browser-safe.
 */
import { LatchError } from '../util/latch-error.js';
import { isTransientRelayError, type RelayClient } from '../transport/relay-client.js';

/** The longest wait between two tries when no reconnect is seen (a reconnect wakes it at once). */
const MAX_RETRY_MS = 5000;

/** Wakes every waiting retry of one relay: told when that relay's inbox is connected again. */
export class RelayWake {
  readonly #waiting = new Set<() => void>();

  wake(): void {
    for (const w of [...this.#waiting]) w();
  }

  /** Resolves on the next wake(), after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.#waiting.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.#waiting.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export interface DeliverOptions {
  relay: RelayClient;
  queueId: string;
  body: Uint8Array;
  wake: RelayWake;
  /** Unix ms after which nobody waits for this answer: the last failure is thrown then. */
  giveUpAt: number;
  signal?: AbortSignal;
  /** Called once, when the first try fails for a reason worth retrying (the relay is away). */
  onUndelivered?: (e: Error) => void | Promise<void>;
}

/** Thrown when `signal` stops the retries (the inbox restarts): the answer is not lost, a later inbox re-sends it from the replay cache. */
export function isDeliveryAbandoned(e: unknown): boolean {
  return e instanceof LatchError && e.code === 'delivery_abandoned';
}

/** Resolves with 'sent' (first try) or 'late' (after a retry); rejects when the relay refuses, or at giveUpAt. */
export async function deliverAnswer(o: DeliverOptions): Promise<'sent' | 'late'> {
  for (let attempt = 0; ; attempt++) {
    // An answer once decided is always tried once, even by an inbox stopping (its storage was
    // cleared under a card: the denial still goes); only the retries stop with `signal`.
    const signal = attempt > 0 ? o.signal : undefined;
    if (signal?.aborted) throw new LatchError('delivery_abandoned', 'the inbox stopped before the answer was delivered; the next one sends it again');
    try {
      // No retries inside send: the page must know at once that the answer did not go.
      await o.relay.send(o.queueId, o.body, { retryForMs: 0, ...(signal ? { signal } : {}) });
      return attempt === 0 ? 'sent' : 'late';
    } catch (e) {
      if (o.signal?.aborted) continue; // reported as abandoned at the top
      if (!isTransientRelayError(e) || Date.now() >= o.giveUpAt) throw e;
      if (attempt === 0) await o.onUndelivered?.(e as Error);
      await o.wake.wait(Math.min(MAX_RETRY_MS, 250 * 2 ** Math.min(attempt, 5), o.giveUpAt - Date.now()), o.signal);
    }
  }
}
