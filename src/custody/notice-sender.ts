/**
 * Delivers the server's boxed notices to device inboxes (docs/CUSTODY.md "Notice inboxes",
 * issue 15 §4) without ever making a request wait on someone else's network:
 *   - our own relay gets the message in-process (Relay.deliver), no connection at all;
 *   - an operator-allowed remote relay gets it over HTTP, each attempt bounded by
 *     NOTICE_TIMEOUT_MS;
 *   - send() waits only for the in-process deliveries (to count the devices surely told, which
 *     the recovery-key gate needs); remote ones run in the background, are logged when they
 *     fail, and close() aborts the ones still running.
 * Which URL is which is relay-allow-list.ts's decision.
 */
import { RelayClient } from '../transport/relay-client.js';
import type { RelayAllowList } from './relay-allow-list.js';

/** One delivery's budget, retries included (RelayClient retries transient errors). */
export const NOTICE_TIMEOUT_MS = 5000;

export interface NoticeTarget {
  relay_url: string;
  queue_id: string;
}

export type LocalDelivery = (queue: string, body: Uint8Array) => Promise<unknown>;

export class NoticeSender {
  readonly #relays = new Map<string, RelayClient>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(
    private readonly allow: RelayAllowList,
    private readonly local: LocalDelivery | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Starts the deliveries; resolves with how many reached our own relay (in-process, so without
   * waiting on anyone's network). Remote deliveries are not waited for and not counted.
   */
  async send<T extends NoticeTarget>(targets: readonly T[], box: (t: T) => Uint8Array, what: string): Promise<number> {
    const local: Promise<boolean>[] = [];
    for (const t of targets) {
      const own = this.allow.deliveryRoute(t.relay_url).kind === 'own';
      const p = this.#deliver(t, box(t)).then(
        () => true,
        (e: unknown) => {
          this.log(`could not notify a device (${what}): ${(e as Error).message}`);
          return false;
        },
      );
      const tracked = p.then(() => undefined);
      this.#inflight.add(tracked);
      void tracked.finally(() => this.#inflight.delete(tracked));
      if (own) local.push(p);
    }
    return (await Promise.all(local)).filter(Boolean).length;
  }

  async #deliver(t: NoticeTarget, body: Uint8Array): Promise<void> {
    const route = this.allow.deliveryRoute(t.relay_url);
    if (route.kind === 'own') {
      if (!this.local) throw new Error('this server runs no relay of its own');
      await this.local(t.queue_id, body);
      return;
    }
    let relay = this.#relays.get(route.url);
    if (!relay) this.#relays.set(route.url, (relay = new RelayClient({ url: route.url, WebSocket: null })));
    await relay.send(t.queue_id, body, { signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(NOTICE_TIMEOUT_MS)]) });
  }

  /** Waits for deliveries still running; remote ones are cut short. */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled([...this.#inflight]);
  }
}
