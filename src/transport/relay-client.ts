/**
 * Client for the Latch relay (PROTOCOL.md §3). Browser-safe: global fetch, libsodium for
 * proofs, and a WebSocket constructor that is passed in, found on globalThis, or
 * (Node only) loaded from the `ws` package.
 *
 * Delivery is at-least-once: a message stays on the relay until its receiver acks it,
 * so callers must tolerate a redelivered message after a restart (envelopes carry a
 * request_id for exactly that). send() retries transient failures, which can store a
 * message twice for the same reason.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { isQueueId, queueIdFromPublicKey, type QueueKeyPair } from '../protocol/queue-id.js';
import { sodiumReady, type Sodium } from '../protocol/sodium.js';
import { LatchError } from '../util/latch-error.js';
import { RELAY_AUTH_HEADER, signRelayProof } from '../relay/relay-proof.js';
import { PUSH_HEADER } from '../relay/push-registration.js';
import { MESSAGE_ID_PATTERN } from '../relay/relay-store.js';
import { RelaySocket, nextClientId, type DeliveredMessage, type SentMessage, type WebSocketCtor } from './relay-socket.js';

export interface RelayMessage {
  id: string;
  body: Uint8Array;
  /** unix seconds, relay clock */
  receivedAt: number;
}

export interface RelayClientOptions {
  /**
   * The relay's base URL, or several comma-separated: the nodes of one relay (issue 10). The
   * client uses one at a time and moves to the next when it stops answering (§3.7).
   */
  url: string;
  /** A WebSocket constructor; `null` disables WebSockets (long-poll only). */
  WebSocket?: unknown;
  fetch?: typeof fetch;
  /**
   * How often inboxes re-list their queues from the start and may yield again a message the
   * caller has not acked (PROTOCOL.md §3.7); default 60 s. Shorter values suit tests.
   */
  safetyPollMs?: number;
  /**
   * false: never send, receive or ack over the WebSocket, only take wakes from it, as with a
   * protocol-1 relay (§3.7). For comparisons and as an escape hatch; default true.
   */
  socketDelivery?: boolean;
}

/**
 * How long send() keeps retrying a transient failure by default: long enough to ride out a relay
 * restart of several seconds inside a 30 s sign timeout (§3.7), short enough for a CLI to report.
 */
export const SEND_RETRY_MS = 20_000;
/** After a socket send was cut off, wait this long for the socket to come back before using HTTP (which cannot deduplicate). */
const SOCKET_RESUME_MS = 3000;
const LONG_POLL_SECONDS = 25;
const PAGE = 100;
const MAX_BACKOFF_MS = 5000;
/**
 * An inbox that got a relay answer that is not a known transient one (a 4xx such as 401) retries
 * at most this slowly: such answers rarely heal in seconds (a clock off by more than §3.2's
 * 300 s), so the relay is not hammered, yet delivery resumes by itself once they do.
 */
const MAX_INBOX_BACKOFF_MS = 30_000;
/**
 * Re-list every queue from the start this often (in case a wake was lost, and to yield again
 * messages yielded but never acked); also the least time between two yields of one message.
 */
const SAFETY_POLL_MS = 60_000;
const EMPTY_BODY = new Uint8Array(0);
/** Without WebSockets, several queues are polled (wait=0) this often. */
const MULTI_POLL_MS = 2000;

function backoffMs(attempt: number, maxMs = MAX_BACKOFF_MS): number {
  const base = Math.min(maxMs, 200 * 2 ** Math.min(attempt, 10));
  return base / 2 + Math.random() * (base / 2);
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Errors worth retrying: the relay is down, overloaded, or rate limiting us. */
export function isTransientRelayError(e: unknown): boolean {
  return e instanceof LatchError && (e.code === 'relay_unreachable' || e.status === 429 || e.status >= 500);
}

/**
 * What an inbox does with a failed receive. The relay is untrusted (PROTOCOL.md §2) and may
 * answer anything: one bad reply must not end delivery for good while the caller still shows
 * "connected". So every answer from the relay - transient (unreachable, 429, 5xx, a malformed
 * message list, which is `relay_bad_response`), or any other HTTP error - is retried with backoff
 * while the inbox reports "disconnected". That includes 401: the proof is signed here with the
 * queue's own key over its own path, so a 401 means either this device's clock is more than
 * 300 s off (§3.2; it heals when the clock is set) or the relay is lying; ending the inbox fixes
 * neither, and the reported error says which it was. Only errors raised here, not by the relay
 * (TypeError and the like: caller and programmer bugs), still end the inbox.
 */
export type InboxFailure = 'transient' | 'relay-refused' | 'fatal';

export function classifyInboxFailure(e: unknown): InboxFailure {
  if (isTransientRelayError(e)) return 'transient';
  // receive() raises LatchError only for what the relay answered (or failed to answer).
  if (e instanceof LatchError) return 'relay-refused';
  return 'fatal';
}

/** Options of inbox() and inboxes(). */
export interface InboxOptions {
  signal?: AbortSignal;
  /**
   * true: the caller answers a message it sees twice from its replay cache (PROTOCOL.md §5.5),
   * so a protocol-3 relay may deliver to this inbox before the commit (§3.6, "Early delivery").
   * Only for inboxes whose every message is idempotent: the authenticator's request inboxes
   * (`latch device run`, the web authenticator) and the computer's answer inbox. Default false.
   */
  early?: boolean;
  onStatus?: (s: 'connected' | 'disconnected') => void;
  /**
   * Told why the relay could not be read, once per outage and again when the reason changes
   * (the inbox goes on retrying; "connected" follows when it recovers). For a log or a status line.
   */
  onError?: (e: LatchError) => void;
}

/** A latch that wakes one waiter; a wake with no waiter is remembered. */
class Waker {
  #pending = false;
  #resolve: (() => void) | undefined;
  wake(): void {
    this.#pending = true;
    const r = this.#resolve;
    this.#resolve = undefined;
    r?.();
  }
  /** Resolves true on wake, false on timeout; rejects on abort. */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve, reject) => {
      const finish = (woken: boolean) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        this.#resolve = undefined;
        this.#pending = false;
        resolve(woken);
      };
      const onAbort = () => {
        clearTimeout(t);
        this.#resolve = undefined;
        reject(abortError(signal!));
      };
      const t = setTimeout(() => finish(false), ms);
      this.#resolve = () => finish(true);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export class RelayClient {
  /** Every node's URL, in the order they are tried. */
  readonly urls: readonly string[];
  #current = 0;
  readonly #fetch: typeof fetch;
  readonly #wsOption: unknown;
  readonly #safetyPollMs: number;
  readonly #socketDelivery: boolean;
  #wsCtor: Promise<WebSocketCtor | undefined> | undefined;
  #sock: RelaySocket | undefined;
  /** Running inboxes, told about every successful ack() so they stop redelivering those ids. */
  readonly #ackHooks = new Set<(queueId: string, ids: readonly string[]) => void>();

  constructor(opts: RelayClientOptions) {
    if (typeof opts.url !== 'string' || opts.url === '') throw new TypeError('relay url must be an absolute http(s) URL');
    this.urls = opts.url.split(',').map((one) => {
      let parsed: URL;
      try {
        parsed = new URL(one.trim());
      } catch {
        throw new TypeError('relay url must be an absolute http(s) URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('relay url must be http or https');
      return parsed.href.replace(/\/+$/, '');
    });
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch available; pass opts.fetch');
    this.#fetch = f.bind(globalThis);
    this.#wsOption = opts.WebSocket;
    const safety = opts.safetyPollMs ?? SAFETY_POLL_MS;
    if (!Number.isFinite(safety) || safety < 1) throw new TypeError('safetyPollMs must be a positive number');
    this.#safetyPollMs = safety;
    this.#socketDelivery = opts.socketDelivery ?? true;
  }

  /** The node in use now. */
  get url(): string {
    return this.urls[this.#current]!;
  }

  /**
   * `url` stopped answering: the next call goes to the next node (issue 10). Only the node in
   * use moves the choice, so a late failure from a node already left does not skip a good one.
   */
  #failover(url: string): void {
    if (this.urls.length > 1 && this.urls[this.#current] === url) this.#current = (this.#current + 1) % this.urls.length;
  }

  /**
   * Stores `body` in the queue; resolves with its id once the relay has committed it. Over the
   * client's WebSocket when one is up (protocol 2), with a client message id that makes every
   * retry of this call store at most one copy; over HTTP otherwise, where a retry after a lost
   * answer can store a second copy (receivers answer it from their replay cache, §5.5).
   * Transient failures (relay away, 429, 5xx, a dropped socket) are retried with backoff for
   * `retryForMs` (default SEND_RETRY_MS). `push: false` sends over HTTP with `Latch-Push: off`,
   * so that a closed app is not woken for it (§3.9); the message is delivered as usual.
   */
  async send(queueId: string, body: Uint8Array, opts?: { signal?: AbortSignal; retryForMs?: number; push?: boolean }): Promise<SentMessage> {
    if (!isQueueId(queueId)) throw new TypeError('send: not a queue id');
    if (!(body instanceof Uint8Array)) throw new TypeError('send: body must be a Uint8Array');
    const path = `/v1/queues/${queueId}/messages`;
    const cid = nextClientId();
    const deadline = Date.now() + (opts?.retryForMs ?? SEND_RETRY_MS);
    const socket = this.#socket();
    // The socket's send has no such flag (protocol 3): a send that must not wake goes over HTTP.
    const noPush = opts?.push === false;
    let usedSocket = false;
    return retryTransient(deadline, opts?.signal, async () => {
      if (!noPush && usedSocket && !socket.ready && socket.active) await socket.waitReady(Math.min(SOCKET_RESUME_MS, Math.max(0, deadline - Date.now())));
      if (!noPush && socket.ready) {
        usedSocket = true;
        return await socket.send(queueId, body, cid);
      }
      const value = await this.#request('POST', path, {
        body,
        contentType: 'application/octet-stream',
        signal: opts?.signal,
        ...(noPush ? { headers: { [PUSH_HEADER]: 'off' } } : {}),
      });
      const id = (value as { id?: unknown } | null)?.id;
      if (typeof id !== 'string' || !MESSAGE_ID_PATTERN.test(id)) throw badResponse('send');
      // `reader` is additive (§3.9): an older relay sends none; anything unknown is ignored.
      const reader = (value as { reader?: unknown }).reader;
      return reader === 'live' || reader === 'push' || reader === 'none' ? { id, reader } : { id };
    });
  }

  /**
   * Keeps this client's WebSocket open (for sends and acks, §3.7) until the returned function is
   * called. Inboxes hold it by themselves; a client that only sends (a bench, a busy writer) can
   * hold it to send over the socket instead of one HTTP request per message.
   */
  hold(): () => void {
    return this.#socket().listen({ queues: [], onConnected: () => {}, onDisconnected: () => {}, onWake: () => {}, onDeliver: () => {} });
  }

  async receive(
    queue: QueueKeyPair,
    opts?: { waitSeconds?: number; limit?: number; signal?: AbortSignal; afterId?: string },
  ): Promise<RelayMessage[]> {
    const sodium = await sodiumReady();
    const id = queueIdFromPublicKey(sodium, queue.publicKey);
    const params = new URLSearchParams();
    if (opts?.waitSeconds !== undefined) params.set('wait', String(opts.waitSeconds));
    if (opts?.limit !== undefined) params.set('limit', String(opts.limit));
    if (opts?.afterId !== undefined) params.set('after', opts.afterId);
    const path = `/v1/queues/${id}/messages`;
    const qs = params.toString();
    const query = qs === '' ? '' : `?${qs}`;
    const value = await this.#request('GET', path, { query, auth: { sodium, key: queue }, signal: opts?.signal });
    return parseMessages(value);
  }

  /**
   * Deletes the messages from the relay. On the WebSocket when this client has the queue
   * subscribed there (acks of the same turn share one frame); over HTTP otherwise, and as the
   * fallback when the socket drops.
   */
  async ack(queue: QueueKeyPair, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const sodium = await sodiumReady();
    const queueId = queueIdFromPublicKey(sodium, queue.publicKey);
    const path = `/v1/queues/${queueId}/ack`;
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const socket = this.#socket();
      if (socket.canAck(queueId)) {
        try {
          await socket.ack(queueId, chunk);
          for (const hook of this.#ackHooks) hook(queueId, chunk);
          continue;
        } catch (e) {
          if (!isTransientRelayError(e)) throw e;
          // the socket dropped: HTTP below
        }
      }
      // Retried like a send (an ack is idempotent): a pooled HTTP connection to a relay that
      // restarted meanwhile fails once with a reset, and the caller should not see that.
      await retryTransient(Date.now() + SEND_RETRY_MS, undefined, () =>
        this.#request('POST', path, {
          body: new TextEncoder().encode(JSON.stringify({ ids: chunk })),
          contentType: 'application/json',
          auth: { sodium, key: queue },
        }),
      );
      // Only after the relay confirmed: an ack that failed leaves the message due for redelivery.
      for (const hook of this.#ackHooks) hook(queueId, chunk);
    }
  }

  async close(queue: QueueKeyPair, reason?: string): Promise<void> {
    const sodium = await sodiumReady();
    const path = `/v1/queues/${queueIdFromPublicKey(sodium, queue.publicKey)}/close`;
    // Retried like a send: closing a closed queue again changes nothing.
    await retryTransient(Date.now() + SEND_RETRY_MS, undefined, () =>
      this.#request('POST', path, {
        body: new TextEncoder().encode(JSON.stringify(reason === undefined ? {} : { reason })),
        contentType: 'application/json',
        auth: { sodium, key: queue },
      }),
    );
  }

  /**
   * Registers this queue's Web Push subscription with the relay, or removes it (`null`), signed
   * with the queue's reader proof (PROTOCOL.md §3.9). Resolves with whether push is now on.
   */
  async registerPush(queue: QueueKeyPair, subscription: { endpoint: string; keys: { p256dh: string; auth: string } } | null): Promise<boolean> {
    const sodium = await sodiumReady();
    const path = `/v1/queues/${queueIdFromPublicKey(sodium, queue.publicKey)}/push`;
    const body = subscription === null ? { endpoint: null } : { endpoint: subscription.endpoint, keys: { p256dh: subscription.keys.p256dh, auth: subscription.keys.auth } };
    const value = await this.#request('POST', path, {
      body: new TextEncoder().encode(JSON.stringify(body)),
      contentType: 'application/json',
      auth: { sodium, key: queue },
    });
    return (value as { push?: unknown } | null)?.push === true;
  }

  /** The relay's VAPID public key (base64url), or undefined when it sends no pushes (§3.9). */
  async pushKey(): Promise<string | undefined> {
    try {
      const value = await this.#request('GET', '/v1/push', {});
      const key = (value as { vapid_public_key?: unknown } | null)?.vapid_public_key;
      return typeof key === 'string' && /^[A-Za-z0-9_-]{80,100}$/.test(key) ? key : undefined;
    } catch (e) {
      if (e instanceof LatchError && e.code === 'push_off') return undefined;
      throw e;
    }
  }

  inbox(queue: QueueKeyPair, opts?: InboxOptions): AsyncIterable<RelayMessage> {
    const run = this.#run.bind(this);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const item of run([queue], opts ?? {})) yield item.message;
      },
    };
  }

  inboxes(queues: QueueKeyPair[], opts?: InboxOptions): AsyncIterable<{ queueId: string; message: RelayMessage }> {
    const run = this.#run.bind(this);
    return { [Symbol.asyncIterator]: () => run(queues, opts ?? {}) };
  }

  async *#run(queues: QueueKeyPair[], opts: InboxOptions): AsyncGenerator<{ queueId: string; message: RelayMessage }> {
    const { signal, onStatus, onError } = opts;
    const sodium = await sodiumReady();
    const safetyMs = this.#safetyPollMs;
    const startedAt = Date.now();
    const entries = queues.map((key) => ({
      key,
      id: queueIdFromPublicKey(sodium, key.publicKey),
      /** Highest id yielded; normal fetches ask only for ids after it. */
      cursor: undefined as string | undefined,
      dirty: true,
      /**
       * A re-list from the start is in progress (PROTOCOL.md §3.7): `scanAfter` pages through
       * it, `seen` collects the ids still on the relay so `yielded` can be pruned at the end.
       */
      rescan: false,
      scanAfter: undefined as string | undefined,
      seen: new Set<string>(),
      lastRescanAt: startedAt,
      /** Yielded and not acked through this client since: id -> when last yielded. */
      yielded: new Map<string, number>(),
      /**
       * Failed receives in a row, and when to try again: per queue, so a relay that refuses one
       * queue neither stops the others nor has its backoff reset by their successes.
       */
      failures: 0,
      retryAt: 0,
    }));
    /**
     * The failure last given to onError (code and status): an outage is reported once for the
     * whole inbox (not per queue, not per retry), and again only when its reason changes.
     */
    let reported: string | undefined;
    if (new Set(entries.map((e) => e.id)).size !== entries.length) throw new TypeError('inboxes: duplicate queue');
    const byId = new Map(entries.map((e) => [e.id, e]));
    /**
     * Whether any queue may be dirty, and the earliest lastRescanAt (recomputed only after one
     * moved): with many queues on a socket that delivers, a pass over every queue after each
     * delivered message was most of a reader's CPU (issue 9: 1,000 queues in the relay bench).
     */
    let maybeDirty = true;
    let oldestRescan = startedAt;
    let oldestRescanStale = false;
    const nextRescanAt = (): number => {
      if (oldestRescanStale) {
        oldestRescan = Infinity;
        for (const e of entries) oldestRescan = Math.min(oldestRescan, e.lastRescanAt);
        oldestRescanStale = false;
      }
      return oldestRescan + safetyMs;
    };
    /** Whether a pass over the queues has anything to do: a queue marked, or a re-list due. */
    const passDue = (): boolean => maybeDirty || Date.now() >= nextRescanAt();
    const startRescan = (e: (typeof entries)[number]) => {
      e.lastRescanAt = Date.now();
      oldestRescanStale = true;
      // Still re-listing (a relay that keeps refusing it: backoff): not started again, but due
      // again only a safety interval from now. Its start in the past used to make every wait 0 ms,
      // and every turn re-listed all the other queues over HTTP.
      if (e.rescan) return;
      e.dirty = true;
      maybeDirty = true;
      // Nothing yielded yet: the normal fetch (no cursor) already lists from the start.
      if (e.cursor === undefined) return;
      e.rescan = true;
      e.scanAfter = undefined;
      e.seen.clear();
    };
    const ackHook = (queueId: string, ids: readonly string[]) => {
      const e = byId.get(queueId);
      if (e !== undefined) for (const id of ids) e.yielded.delete(id);
    };
    this.#ackHooks.add(ackHook);
    const waker = new Waker();
    let status: 'connected' | 'disconnected' | undefined;
    const setStatus = (s: 'connected' | 'disconnected') => {
      if (status === s) return;
      status = s;
      try {
        onStatus?.(s);
      } catch {
        // a status callback's failure must not end the inbox
      }
    };
    const markAll = () => {
      for (const e of entries) e.dirty = true;
      maybeDirty = true;
    };
    const rescanAll = () => {
      for (const e of entries) startRescan(e);
      markAll();
    };
    /** The socket's state for this inbox: `connected` = every queue subscribed; `deliver` = messages come on it. */
    const wakes = { connected: false, deliver: false };
    const delivered: { queueId: string; message: DeliveredMessage }[] = [];
    /** The long-poll in flight, cut short when the socket comes up (it then delivers instead). */
    let poll: AbortController | undefined;
    let pollCut = false;
    const unlisten = this.#socket().listen({
      queues: entries,
      early: opts.early === true,
      onWake: (queueId) => {
        const e = byId.get(queueId);
        if (e === undefined) return;
        e.dirty = true;
        maybeDirty = true;
        waker.wake();
      },
      onDeliver: (queueId, message) => {
        delivered.push({ queueId, message });
        waker.wake();
      },
      onConnected: (deliver) => {
        wakes.connected = true;
        wakes.deliver = deliver;
        // The relay answered a subscribe: say so now, not when a long-poll that may have been
        // started before the socket was up returns (up to LONG_POLL_SECONDS later).
        setStatus('connected');
        // With delivery, subscribing already sends everything unacked from the start; with wakes
        // only, a wake may have been missed while disconnected: re-list.
        if (!deliver) rescanAll();
        if (poll !== undefined) {
          pollCut = true;
          poll.abort();
        }
        waker.wake();
      },
      onDisconnected: () => {
        wakes.connected = false;
        wakes.deliver = false;
        waker.wake();
      },
    });
    /**
     * Whether to yield a message listed or delivered for `e`: anything past the cursor; at or
     * below it (a re-list or a redelivery), only what the caller has not acked and not sooner
     * than the safety interval after its last yield: "once per delivery attempt" (§3.7).
     */
    const take = (e: (typeof entries)[number], message: { id: string }): boolean => {
      if (e.cursor === undefined || BigInt(message.id) > BigInt(e.cursor)) {
        e.cursor = message.id;
        e.yielded.set(message.id, Date.now());
        return true;
      }
      const last = e.yielded.get(message.id);
      if (last === undefined || Date.now() - last < safetyMs) return false;
      e.yielded.set(message.id, Date.now());
      return true;
    };
    try {
      while (!signal?.aborted) {
        while (delivered.length > 0) {
          const d = delivered.shift()!;
          const e = byId.get(d.queueId);
          if (e !== undefined && take(e, d.message)) {
            yield { queueId: e.id, message: d.message };
            // A caller that comes back only once its next message is here would otherwise never
            // let a due re-list run: the unacked message it is for would not come again for as
            // long as other messages keep coming. The rest of `delivered` waits one pass.
            if (passDue()) break;
          }
        }
        // Nothing marked and no re-list due: no queue needs a look (the steady state of delivery).
        for (const e of passDue() ? entries : []) {
          // Long-polling and 2 s polling never time out into the safety branch below, so the
          // periodic re-list is also started from here.
          if (Date.now() - e.lastRescanAt >= safetyMs) startRescan(e);
          if (!e.dirty) continue;
          if (e.retryAt > Date.now()) continue; // backing off after a failure; still due
          e.dirty = false;
          // Messages come on the socket; HTTP only for the periodic re-list.
          if (wakes.deliver && wakes.connected && !e.rescan) continue;
          const rescan = e.rescan;
          const longPoll = !rescan && !wakes.connected && entries.length === 1;
          const afterId = rescan ? e.scanAfter : e.cursor;
          let messages: RelayMessage[];
          try {
            // While yielded messages are unacked, a long-poll must not outlast the next re-list,
            // or their redelivery would wait for it.
            const untilRescan = Math.ceil((e.lastRescanAt + safetyMs - Date.now()) / 1000);
            const waitSeconds = !longPoll ? 0 : e.yielded.size === 0 ? LONG_POLL_SECONDS : Math.max(1, Math.min(LONG_POLL_SECONDS, untilRescan));
            const ropts: { waitSeconds: number; limit: number; signal?: AbortSignal; afterId?: string } = {
              waitSeconds,
              limit: PAGE,
            };
            const mine = new AbortController();
            const onAbort = (): void => mine.abort();
            signal?.addEventListener('abort', onAbort, { once: true });
            if (signal?.aborted) mine.abort();
            ropts.signal = mine.signal;
            if (afterId !== undefined) ropts.afterId = afterId;
            poll = mine;
            try {
              messages = await this.receive(e.key, ropts);
            } finally {
              poll = undefined;
              signal?.removeEventListener('abort', onAbort);
            }
          } catch (err) {
            if (signal?.aborted) return;
            if (pollCut) {
              // Cut short because the socket came up: nothing failed.
              pollCut = false;
              e.dirty = true;
              continue;
            }
            const kind = classifyInboxFailure(err);
            if (kind === 'fatal') throw err;
            e.dirty = true;
            e.retryAt = Date.now() + backoffMs(e.failures++, kind === 'transient' ? MAX_BACKOFF_MS : MAX_INBOX_BACKOFF_MS);
            setStatus('disconnected');
            const latchErr = err as LatchError;
            const why = `${latchErr.code} ${latchErr.status}`;
            if (reported !== why) {
              reported = why;
              try {
                onError?.(latchErr);
              } catch {
                // a report callback's failure must not end the inbox
              }
            }
            continue; // the other queues go on; this one is retried at retryAt
          }
          if (e.failures > 0) rescanAll(); // the relay came back: re-list, as after a WebSocket reconnect
          e.failures = 0;
          e.retryAt = 0;
          if (entries.every((x) => x.failures === 0)) {
            reported = undefined;
            setStatus('connected');
          }
          for (const message of messages) {
            if (rescan) {
              e.seen.add(message.id);
              e.scanAfter = message.id;
            }
            if (take(e, message)) yield { queueId: e.id, message };
          }
          if (rescan && messages.length < PAGE) {
            // Re-list complete: ids no longer on the relay (acked elsewhere, expired) are forgotten.
            e.rescan = false;
            for (const id of e.yielded.keys()) if (!e.seen.has(id)) e.yielded.delete(id);
            e.seen.clear();
            e.dirty = true; // back to fetching after the cursor (and long-polling, if that is the mode)
          }
          if (messages.length === PAGE) e.dirty = true;
          if (longPoll && messages.length === 0) e.dirty = true;
        }
        maybeDirty &&= entries.some((e) => e.dirty);
        const now = Date.now();
        if (delivered.length > 0 || (maybeDirty && entries.some((e) => e.dirty && e.retryAt <= now))) continue;
        // Queues backing off after a failure are due again at their retryAt.
        let backoffDue = Infinity;
        if (maybeDirty) for (const e of entries) if (e.dirty) backoffDue = Math.max(0, Math.min(backoffDue, e.retryAt - now));
        if (wakes.connected) {
          const due = Math.max(0, nextRescanAt() - now);
          if (!(await waker.wait(Math.min(due, backoffDue), signal)) && due <= backoffDue) rescanAll();
        } else {
          // One queue long-polls (so it waits 0 between polls), except while it backs off.
          const poll = entries.length === 1 ? (Number.isFinite(backoffDue) ? backoffDue : 0) : Math.min(MULTI_POLL_MS, backoffDue);
          await waker.wait(poll, signal);
          markAll();
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      throw e;
    } finally {
      this.#ackHooks.delete(ackHook);
      unlisten();
    }
  }

  /** The client's one WebSocket (§3.7); connects while an inbox listens on it. */
  #socket(): RelaySocket {
    this.#sock ??= new RelaySocket(
      this.#webSocketCtor(),
      // Each connect asks which node to use; a socket that closes or never opens moves on (issue 10).
      { current: () => wsUrl(this.url), failed: (ws) => this.#failover(this.urls.find((u) => wsUrl(u) === ws) ?? '') },
      sodiumReady(),
      this.#socketDelivery,
    );
    return this.#sock;
  }

  #webSocketCtor(): Promise<WebSocketCtor | undefined> {
    this.#wsCtor ??= (async () => {
      if (this.#wsOption === null) return undefined;
      if (typeof this.#wsOption === 'function') return this.#wsOption as WebSocketCtor;
      const g = (globalThis as { WebSocket?: unknown }).WebSocket;
      if (typeof g === 'function') return g as WebSocketCtor;
      try {
        const mod = (await import('ws')) as { WebSocket: unknown };
        return mod.WebSocket as WebSocketCtor;
      } catch {
        return undefined; // no WebSocket here: long-poll only
      }
    })();
    return this.#wsCtor;
  }

  async #request(
    method: string,
    path: string,
    o: {
      query?: string;
      body?: Uint8Array;
      contentType?: string;
      auth?: { sodium: Sodium; key: QueueKeyPair };
      signal?: AbortSignal | undefined;
      headers?: Record<string, string>;
    },
  ): Promise<unknown> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.contentType !== undefined) headers['content-type'] = o.contentType;
    if (o.auth !== undefined) {
      // The proof covers the exact bytes sent (PROTOCOL.md §3.2), so it cannot be replayed with another body.
      headers[RELAY_AUTH_HEADER] = signRelayProof(o.auth.sodium, o.auth.key, method, path, Math.floor(Date.now() / 1000), o.body ?? EMPTY_BODY);
    }
    const init: RequestInit = { method, headers };
    if (o.body !== undefined) init.body = o.body as unknown as BodyInit;
    if (o.signal !== undefined) init.signal = o.signal;
    let res: Response;
    const url = this.url;
    try {
      res = await this.#fetch(`${url}${path}${o.query ?? ''}`, init);
    } catch (e) {
      if (o.signal?.aborted) throw abortError(o.signal);
      this.#failover(url);
      throw new LatchError('relay_unreachable', `cannot reach the relay at ${url}`, { status: 503, cause: e });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (o.signal?.aborted) throw abortError(o.signal);
      this.#failover(url);
      throw new LatchError('relay_unreachable', `connection to the relay at ${url} broke`, { status: 503, cause: e });
    }
    // A node that answers 502-504 (its store away, a proxy before a dead node) counts as not answering.
    if (res.status >= 502 && res.status <= 504) this.#failover(url);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (!res.ok) {
      const err = (value as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      // The relay is untrusted (PROTOCOL.md §2) and its words reach logs and terminals: a code
      // must look like one, a message is cut short and carries no control or format characters.
      const code = typeof err?.code === 'string' && /^[a-z0-9_]{1,40}$/.test(err.code) ? err.code : 'relay_error';
      const message = typeof err?.message === 'string' ? err.message.slice(0, 200).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, '?') : `relay at ${this.url} answered HTTP ${res.status}`;
      const e = new LatchError(code, message, { status: res.status });
      const ra = res.headers.get('retry-after');
      if (ra !== null && /^[0-9]{1,4}$/.test(ra)) (e as LatchError & { retryAfterSeconds?: number }).retryAfterSeconds = Number(ra);
      throw e;
    }
    if (value === undefined) throw badResponse(method);
    return value;
  }
}

function badResponse(what: string): LatchError {
  return new LatchError('relay_bad_response', `relay gave an unexpected answer to ${what}`, { status: 502 });
}

function parseMessages(value: unknown): RelayMessage[] {
  const list = (value as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(list)) throw badResponse('receive');
  return list.map((m: unknown) => {
    const o = m as { id?: unknown; body?: unknown; received_at?: unknown } | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      typeof o.id !== 'string' ||
      !MESSAGE_ID_PATTERN.test(o.id) ||
      typeof o.body !== 'string' ||
      !Number.isSafeInteger(o.received_at)
    ) {
      throw badResponse('receive');
    }
    let body: Uint8Array;
    try {
      body = decodeBase64url(o.body, 'relay message body');
    } catch {
      throw badResponse('receive');
    }
    return { id: o.id, body, receivedAt: o.received_at as number };
  });
}

function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/v1/ws`;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not transient (relay away, 429,
 * 5xx, a dropped socket: isTransientRelayError), or the next backoff (honouring Retry-After)
 * would pass `deadline`; then that error is thrown (§3.7).
 */
async function retryTransient<T>(deadline: number, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isTransientRelayError(e) || signal?.aborted) throw e;
      const retryAfter = (e as LatchError & { retryAfterSeconds?: number }).retryAfterSeconds;
      const wait = retryAfter !== undefined ? Math.min(retryAfter * 1000, MAX_BACKOFF_MS) : backoffMs(n);
      if (Date.now() + wait > deadline) throw e;
      await sleep(wait, signal);
    }
  }
}
