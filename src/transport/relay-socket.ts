/**
 * One WebSocket to the relay's `/v1/ws`, shared by everything one RelayClient does (PROTOCOL.md
 * §3.5, §3.7): its inboxes' subscriptions, sends (each with a client message id, so a retry is
 * stored once) and batched acks. It stays open while an inbox uses it and reconnects with
 * jittered backoff; a caller that finds it down uses HTTP instead. Browser-safe.
 *
 * A relay that speaks protocol 2 says so in its first frame (`ready`); with an older relay the
 * socket only carries wakes (subscriptions without `deliver`) and sends and acks go over HTTP.
 * With a protocol-4 relay, sends and deliveries travel as binary frames (§3.5.1).
 */
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import { LatchError } from '../util/latch-error.js';
import { signRelayProof } from '../relay/relay-proof.js';
import { MAX_ACK_IDS_PER_FRAME, parseServerFrame } from '../relay/relay-ws-frame.js';
import { encodeBinarySend, parseBinaryServerFrame } from '../relay/relay-ws-binary-frame.js';

/** The subset of the WebSocket API used here (browser WebSocket and `ws` both have it). */

/** A stored message's id, and who will read it when the relay says (PROTOCOL.md §3.9). */
export interface SentMessage {
  id: string;
  reader?: 'live' | 'push' | 'none';
}

export interface WebSocketLike {
  readonly readyState: number;
  /**
   * How binary frames arrive: a browser's default ('blob') cannot be read synchronously, so it is
   * set to 'arraybuffer'; `ws` gives Buffers ('nodebuffer'). Absent: no binary frames are asked for.
   */
  binaryType?: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface DeliveredMessage {
  id: string;
  body: Uint8Array;
  /** unix seconds, relay clock */
  receivedAt: number;
}

/** What an inbox hears from the socket about its queues. */
export interface SocketListener {
  readonly queues: readonly { key: QueueKeyPair; id: string }[];
  /** Ask a protocol-3 relay to deliver these queues' messages before the commit (§3.6; InboxOptions.early). */
  readonly early?: boolean;
  /** Every queue of this listener is subscribed on the current socket; `deliver` says whether messages come with it. */
  onConnected(deliver: boolean): void;
  onDisconnected(): void;
  onWake(queueId: string): void;
  onDeliver(queueId: string, message: DeliveredMessage): void;
}

const OPEN = 1;
/** How long to wait for a relay's `ready` frame before treating it as protocol 1. */
const READY_WAIT_MS = 1000;
const MAX_BACKOFF_MS = 5000;

function backoffMs(attempt: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 200 * 2 ** Math.min(attempt, 10));
  return base / 2 + Math.random() * (base / 2);
}

const later: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => void (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(fn)
    : (fn) => void setTimeout(fn, 0);

/**
 * A client message id or an ack reference (§3.5): the time in ms as 12 hex digits, 16 random
 * bytes per process, then a counter, so ids never repeat within a process and collide across
 * processes with negligible odds, without a call to the random source per message. The time
 * comes first so that a relay's dedup index, keyed by cid, grows at one end: a relay batch's cids
 * then share a few B-tree pages instead of one page each (§3.6). Hex digits sort as they read.
 */
const ID_PREFIX = (() => {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return encodeBase64url(b);
})();
let idCounter = 0;
export function nextClientId(): string {
  return `${Date.now().toString(16).padStart(12, '0')}${ID_PREFIX}${(idCounter++).toString(36)}`;
}

function lostSocket(): LatchError {
  return new LatchError('relay_unreachable', 'the connection to the relay closed', { status: 503 });
}

interface Waiting<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

interface AckBatch {
  readonly acks: Map<string, string[]>;
  count: number;
  readonly waiters: Waiting<void>[];
}

export class RelaySocket {
  #ws: WebSocketLike | undefined;
  /** The relay said `ready` with protocol >= 2 on the current socket. */
  #v2 = false;
  /** ... and >= 3: a subscription may ask for early delivery (§3.6). */
  #v3 = false;
  /** ... and >= 4, and this socket reads binary frames: sends and deliveries are binary (§3.5.1). */
  #v4 = false;
  #open = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ctor: WebSocketCtor | undefined;
  readonly #listeners = new Set<SocketListener>();
  /**
   * The listeners of each queue: a frame for a queue finds its listeners without passing over every
   * queue of every listener (an inbox of 1,000 queues did that on each delivered message).
   */
  readonly #byQueue = new Map<string, Set<SocketListener>>();
  /** Queues whose subscription the relay confirmed on the current socket. */
  readonly #confirmed = new Set<string>();
  readonly #sends = new Map<string, Waiting<SentMessage>>();
  readonly #acks = new Map<string, Waiting<void>>();
  #batch: AckBatch | undefined;
  readonly #readyWaiters = new Set<() => void>();

  constructor(
    private readonly ctor: Promise<WebSocketCtor | undefined>,
    /**
     * The `/v1/ws` URL, or a chooser among a relay's nodes (issue 10): asked at every connect and
     * told when a socket to a node closed or never opened, so the next connect tries another.
     */
    private readonly url: string | { current(): string; failed(url: string): void },
    private readonly sodium: Promise<Sodium>,
    /** false: use the socket as protocol 1 does (wakes only), whatever the relay offers. */
    private readonly protocol2 = true,
  ) {}

  /** Open, and speaking protocol 2: sends and acks can go here. */
  get ready(): boolean {
    return this.#open && this.#v2;
  }

  /** Someone keeps the socket up (an inbox), so it will come back after a drop. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Resolves when the socket is ready, or after `ms` (whichever comes first). */
  waitReady(ms: number): Promise<void> {
    if (this.ready || !this.active) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.#readyWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#readyWaiters.add(done);
    });
  }

  listen(l: SocketListener): () => void {
    this.#listeners.add(l);
    for (const q of l.queues) {
      const set = this.#byQueue.get(q.id);
      if (set === undefined) this.#byQueue.set(q.id, new Set([l]));
      else set.add(l);
    }
    if (this.#ws === undefined && this.#timer === undefined) this.#start();
    else if (this.#open) this.#subscribe([l]);
    return () => {
      if (!this.#listeners.delete(l)) return;
      for (const q of l.queues) {
        const set = this.#byQueue.get(q.id);
        if (set === undefined) continue; // listed twice: done at its first mention
        set.delete(l);
        if (set.size > 0) continue; // another listener still reads the queue
        this.#byQueue.delete(q.id);
        if (!this.#open) continue;
        this.#confirmed.delete(q.id);
        this.#ws?.send(JSON.stringify({ op: 'unsubscribe', queue: q.id }));
      }
      if (this.#listeners.size === 0) this.#shutdown();
    };
  }

  /** Sends over the socket (the answer's `reader` is PROTOCOL.md §3.9's); rejects with a transient error if the socket is not ready or closes first. */
  send(queueId: string, body: Uint8Array, cid: string): Promise<SentMessage> {
    if (!this.ready) return Promise.reject(lostSocket());
    // Encoded before the cid is registered: a caller's bad argument throws, and leaves nothing behind.
    const frame = this.#v4 ? encodeBinarySend({ queue: queueId, cid, body }) : JSON.stringify({ op: 'send', queue: queueId, cid, body: encodeBase64url(body) });
    return new Promise((resolve, reject) => {
      this.#sends.set(cid, { resolve, reject });
      this.#ws!.send(frame);
    });
  }

  /** Whether `ack` may be used for this queue now (the relay takes acks only for queues subscribed on the socket). */
  canAck(queueId: string): boolean {
    return this.ready && this.#confirmed.has(queueId);
  }

  /**
   * Acks on the socket. Acks asked for in the same event-loop turn share one frame (up to
   * MAX_ACK_IDS_PER_FRAME ids), so a reader that acks message by message still acks in batches.
   */
  ack(queueId: string, ids: readonly string[]): Promise<void> {
    if (!this.canAck(queueId)) return Promise.reject(lostSocket());
    return new Promise((resolve, reject) => {
      if (this.#batch !== undefined && this.#batch.count + ids.length > MAX_ACK_IDS_PER_FRAME) this.#flushAcks();
      if (this.#batch === undefined) {
        this.#batch = { acks: new Map(), count: 0, waiters: [] };
        later(() => this.#flushAcks());
      }
      const b = this.#batch;
      b.acks.set(queueId, [...(b.acks.get(queueId) ?? []), ...ids]);
      b.count += ids.length;
      b.waiters.push({ resolve, reject });
    });
  }

  #flushAcks(): void {
    const b = this.#batch;
    this.#batch = undefined;
    if (b === undefined || b.count === 0) return;
    const settle = (err: unknown | undefined): void => {
      for (const w of b.waiters) {
        if (err === undefined) w.resolve();
        else w.reject(err);
      }
    };
    if (!this.ready) {
      settle(lostSocket());
      return;
    }
    const ref = nextClientId();
    this.#acks.set(ref, { resolve: () => settle(undefined), reject: (e) => settle(e) });
    this.#ws!.send(JSON.stringify({ op: 'ack', ref, acks: Object.fromEntries(b.acks) }));
  }

  #start(): void {
    this.ctor.then(
      (c) => {
        // Each listen before the constructor came asked to start: the first connects (#connect sets
        // #ws, or #timer when it failed), the others find that done. Two sockets were opened here
        // once, the first never closed.
        if (c === undefined || this.#listeners.size === 0 || this.#ws !== undefined || this.#timer !== undefined) return;
        this.#ctor = c;
        this.#connect();
      },
      () => {},
    );
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#listeners.size === 0 || this.#ctor === undefined) return;
    let ws: WebSocketLike;
    const url = typeof this.url === 'string' ? this.url : this.url.current();
    const failed = (): void => {
      if (typeof this.url !== 'string') this.url.failed(url);
    };
    try {
      ws = new this.#ctor(url);
    } catch {
      failed();
      this.#retry();
      return;
    }
    this.#ws = ws;
    // A browser hands binary frames over as Blobs unless told otherwise (read asynchronously,
    // they could overtake the text frames after them).
    if (ws.binaryType === 'blob') ws.binaryType = 'arraybuffer';
    let readyTimer: ReturnType<typeof setTimeout> | undefined;
    const begin = (): void => {
      if (readyTimer !== undefined) clearTimeout(readyTimer);
      readyTimer = undefined;
      if (this.#ws !== ws || this.#open) return;
      this.#open = true;
      this.#attempt = 0;
      for (const w of [...this.#readyWaiters]) w();
      this.#subscribe([...this.#listeners]);
    };
    ws.onopen = () => {
      // A protocol-2 relay speaks first; an older one says nothing until asked.
      readyTimer = setTimeout(begin, READY_WAIT_MS);
    };
    ws.onmessage = (ev) => {
      if (this.#ws !== ws) return;
      if (typeof ev.data !== 'string') {
        // Binary: only a deliver (§3.5.1), and only on a subscription that asked for it.
        const bytes = ev.data instanceof Uint8Array ? ev.data : ev.data instanceof ArrayBuffer ? new Uint8Array(ev.data) : undefined;
        const d = bytes === undefined ? undefined : parseBinaryServerFrame(bytes);
        if (d === undefined) return; // garbage from the relay: the HTTP re-list still finds the message
        this.#dispatch(d.queue, { id: d.id, body: d.body, receivedAt: d.receivedAt });
        return;
      }
      const frame = parseServerFrame(ev.data);
      if (frame === undefined) return;
      switch (frame.op) {
        case 'ready':
          this.#v2 = this.protocol2 && frame.protocol >= 2;
          this.#v3 = this.#v2 && frame.protocol >= 3;
          this.#v4 = this.#v3 && frame.protocol >= 4 && (ws.binaryType === 'arraybuffer' || ws.binaryType === 'nodebuffer');
          begin();
          return;
        case 'subscribed':
          this.#confirmed.add(frame.queue);
          this.#announce();
          return;
        case 'wake':
          for (const l of this.#byQueue.get(frame.queue) ?? []) l.onWake(frame.queue);
          return;
        case 'deliver': {
          let body: Uint8Array;
          try {
            body = decodeBase64url(frame.body, 'relay message body');
          } catch {
            return; // a relay that sends garbage: the HTTP re-list still finds the message
          }
          this.#dispatch(frame.queue, { id: frame.id, body, receivedAt: frame.received_at });
          return;
        }
        case 'stored': {
          const w = this.#sends.get(frame.cid);
          this.#sends.delete(frame.cid);
          w?.resolve(frame.reader !== undefined ? { id: frame.id, reader: frame.reader } : { id: frame.id });
          return;
        }
        case 'acked': {
          const w = this.#acks.get(frame.ref);
          this.#acks.delete(frame.ref);
          w?.resolve();
          return;
        }
        case 'error': {
          const err = new LatchError(frame.code, frame.message.slice(0, 200).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, '?'), {
            status: frame.code === 'rate_limited' ? 429 : frame.code === 'internal' ? 500 : 400,
          });
          if (frame.cid !== undefined && this.#sends.has(frame.cid)) {
            this.#sends.get(frame.cid)!.reject(err);
            this.#sends.delete(frame.cid);
          } else if (frame.ref !== undefined && this.#acks.has(frame.ref)) {
            this.#acks.get(frame.ref)!.reject(err);
            this.#acks.delete(frame.ref);
          }
          // A refused subscribe (clock skew, caps) leaves its listener unconfirmed: it polls over HTTP.
          return;
        }
        default:
          return;
      }
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (readyTimer !== undefined) clearTimeout(readyTimer);
      if (this.#ws !== ws) return;
      // Our own shutdown clears #ws first, so this is the node going away (or never answering).
      failed();
      this.#lost();
      this.#retry();
    };
  }

  #dispatch(queueId: string, m: DeliveredMessage): void {
    const listeners = this.#byQueue.get(queueId);
    if (listeners !== undefined) for (const l of listeners) l.onDeliver(queueId, m);
  }

  #subscribe(listeners: readonly SocketListener[]): void {
    const ws = this.#ws;
    if (ws === undefined) return;
    const v2 = this.#v2;
    const binary = this.#v4;
    // A queue several listeners share is early only if all of them asked (a subscribe replaces the last).
    const queues = new Map<string, { key: QueueKeyPair; id: string; early: boolean }>();
    for (const l of listeners) for (const q of l.queues) queues.set(q.id, { key: q.key, id: q.id, early: false });
    for (const q of queues.values()) {
      q.early = this.#v3 && [...(this.#byQueue.get(q.id) ?? [])].every((x) => x.early === true);
    }
    void this.sodium.then((sodium) => {
      if (this.#ws !== ws || ws.readyState !== OPEN) return;
      const ts = Math.floor(Date.now() / 1000);
      for (const q of queues.values()) {
        const auth = signRelayProof(sodium, q.key, 'SUBSCRIBE', `/v1/queues/${q.id}`, ts);
        ws.send(
          JSON.stringify(
            v2 ? { op: 'subscribe', queue: q.id, auth, deliver: true, ...(q.early ? { early: true } : {}), ...(binary ? { binary: true } : {}) } : { op: 'subscribe', queue: q.id, auth },
          ),
        );
      }
    });
  }

  /** Tells each listener whose queues are all confirmed (once per socket). */
  #announced = new WeakSet<SocketListener>();
  #announce(): void {
    for (const l of this.#listeners) {
      if (this.#announced.has(l)) continue;
      if (!l.queues.every((q) => this.#confirmed.has(q.id))) continue;
      this.#announced.add(l);
      l.onConnected(this.#v2);
    }
  }

  /** The socket went away: pending operations fail (their callers retry), listeners hear it. */
  #lost(): void {
    const wasOpen = this.#open;
    this.#ws = undefined;
    this.#open = false;
    this.#v2 = false;
    this.#v3 = false;
    this.#v4 = false;
    this.#confirmed.clear();
    const err = lostSocket();
    for (const w of this.#sends.values()) w.reject(err);
    this.#sends.clear();
    for (const w of this.#acks.values()) w.reject(err);
    this.#acks.clear();
    const b = this.#batch;
    this.#batch = undefined;
    for (const w of b?.waiters ?? []) w.reject(err);
    const announced = this.#announced;
    this.#announced = new WeakSet();
    if (wasOpen) for (const l of this.#listeners) if (announced.has(l)) l.onDisconnected();
  }

  #retry(): void {
    if (this.#listeners.size === 0) return;
    this.#timer = setTimeout(() => this.#connect(), backoffMs(this.#attempt++));
  }

  #shutdown(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    this.#lost();
    this.#attempt = 0;
    try {
      ws?.close();
    } catch {
      // closing a socket that never opened may throw in some implementations
    }
  }
}
