/**
 * Wake-ups between relay nodes over core NATS (issue 10; PROTOCOL.md §3.6). Each node
 * subscribes to `<prefix>.<queue id>` for the queues its own readers wait on (a WebSocket
 * subscription, a long-poll), so a message stored on node A is pushed to node B, which holds the
 * reader's socket, with its body: B delivers it without reading the store.
 *
 * Core NATS is at most once. A lost wake-up costs latency, never a message: the message is in
 * JetStream, a delivering subscription reads the store when an announcement arrives out of order
 * (`previousId`), every reader's client re-lists every 60 s (§3.7), and after this node's NATS
 * connection comes back every local reader is woken without a message so it reads the store.
 */
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { QueueNotifier, type Arrival, type QueueListener, type QueueWakes } from './queue-notifier.js';

const HEADER_ID = 'Latch-Id';
const HEADER_AT = 'Latch-At';
const HEADER_PREV = 'Latch-Prev';
const HEADER_BODY = 'Latch-Body';
/** Bodies above this travel as a bare wake (the reader reads the store); NATS' default max payload is 1 MiB. */
const MAX_PUSHED_BODY = 256 * 1024;

export class NatsQueueWakes implements QueueWakes {
  readonly #local = new QueueNotifier();
  readonly #subs = new Map<string, { sub: Subscription; count: number }>();
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #log: (line: string) => void;
  #stopped = false;

  constructor(nc: NatsConnection, prefix: string, log: (line: string) => void) {
    this.#nc = nc;
    this.#prefix = prefix;
    this.#log = log;
    void this.#watchStatus();
  }

  listen(queue: string, fn: QueueListener): () => void {
    const stop = this.#local.listen(queue, fn);
    let entry = this.#subs.get(queue);
    if (entry === undefined && !this.#stopped) {
      const sub = this.#nc.subscribe(`${this.#prefix}.${queue}`, { callback: (err, msg) => (err ? undefined : this.#onRemote(queue, msg)) });
      entry = { sub, count: 0 };
      this.#subs.set(queue, entry);
    }
    if (entry !== undefined) entry.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      stop();
      const e = this.#subs.get(queue);
      if (e === undefined) return;
      if (--e.count <= 0) {
        this.#subs.delete(queue);
        e.sub.unsubscribe();
      }
    };
  }

  has(queue: string): boolean {
    return this.#local.has(queue);
  }

  notify(queue: string, message?: Arrival, early?: boolean): void {
    this.#local.notify(queue, message, early);
    // Other nodes hear only of what JetStream acknowledged (the JetStream store announces nothing early).
    if (early === true) return;
    if (this.#stopped || this.#nc.isClosed()) return;
    const h = natsHeaders();
    let payload: Uint8Array | undefined;
    if (message !== undefined) {
      h.set(HEADER_ID, message.id);
      h.set(HEADER_AT, String(message.receivedAt));
      if (message.previousId !== undefined) h.set(HEADER_PREV, message.previousId);
      if (message.body.length <= MAX_PUSHED_BODY) {
        h.set(HEADER_BODY, '1');
        payload = message.body;
      }
    }
    try {
      this.#nc.publish(`${this.#prefix}.${queue}`, payload ?? new Uint8Array(0), { headers: h });
    } catch (e) {
      // At most once by design (see above): the reader catches up from the store.
      this.#log(`relay wake for another node not sent: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Resolves once the NATS server has every subscription made so far (for tests and startup). */
  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  get size(): number {
    return this.#local.size;
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#subs.values()) e.sub.unsubscribe();
    this.#subs.clear();
  }

  #onRemote(queue: string, msg: Msg): void {
    const h = msg.headers;
    const id = h?.get(HEADER_ID) ?? '';
    const at = Number(h?.get(HEADER_AT) ?? '');
    const prev = h?.get(HEADER_PREV) ?? '';
    if (!/^[1-9][0-9]{0,15}$/.test(id) || !Number.isSafeInteger(at) || h?.get(HEADER_BODY) !== '1') {
      this.#local.notify(queue);
      return;
    }
    this.#local.notify(queue, {
      id,
      body: msg.data,
      receivedAt: at,
      ...(/^(0|[1-9][0-9]{0,15})$/.test(prev) ? { previousId: prev } : {}),
    });
  }

  /** After a reconnect, wake-ups sent meanwhile are lost: every local reader reads the store. */
  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (this.#stopped) return;
      if (s.type === 'reconnect') {
        this.#log(`relay store: NATS connection back (${s.server ?? 'server'}); waking local readers`);
        for (const queue of this.#subs.keys()) this.#local.notify(queue);
      } else if (s.type === 'disconnect') {
        this.#log('relay store: NATS connection lost; reconnecting');
      }
    }
  }
}
