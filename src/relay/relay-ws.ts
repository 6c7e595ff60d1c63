/**
 * The relay's WebSocket (PROTOCOL.md §3.5). A subscriber proves it owns each queue, then gets
 * either {"op":"wake"} whenever a message is stored there (protocol 1: it fetches over HTTP), or,
 * when it subscribed with "deliver":true (protocol 2), {"op":"deliver"} frames carrying the
 * message itself, and acks them in batches on the same socket. Any client may also send
 * messages over it, each with a client message id that makes a retried send store once. From
 * protocol 4 the frames that carry a body (send, deliver) may be binary (§3.5.1).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { LogThrottle } from './log-throttle.js';
import type { Arrival, QueueWakes } from './queue-notifier.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { RELAY_AUTH_FAILED_MESSAGE, verifyRelayProof } from './relay-proof.js';
import type { PutResult, RelayStore, StoredMessage } from './relay-store.js';
import {
  RELAY_PROTOCOL_VERSION,
  encodeServerFrame,
  maxFrameBytes,
  parseClientFrame,
  type ClientFrame,
  type FrameParse,
  type ServerFrame,
} from './relay-ws-frame.js';
import { encodeBinaryDeliver, parseBinaryClientFrame, type BinarySendParse } from './relay-ws-binary-frame.js';
import { clientAddress } from '../util/client-address.js';
import { bumpCount } from './count-by-key.js';
import { corkUntilTick, flushCorked } from '../util/cork-until-tick.js';

export const MAX_SUBSCRIPTIONS_PER_SOCKET = 1000;
/** Open sockets per client IP (PROTOCOL.md §3.5): bounds the memory and wake fan-out one client can hold. */
export const MAX_SOCKETS_PER_IP = 32;
/** Subscriptions per client IP across all its sockets (PROTOCOL.md §3.5). */
export const MAX_SUBSCRIPTIONS_PER_IP = 4000;
/** Frame bucket burst: at least one full 1000-queue subscribe plus a little (PROTOCOL.md §3.4). */
const MIN_FRAME_BURST = MAX_SUBSCRIPTIONS_PER_SOCKET + 100;

/** Deliveries wait while a socket has more than this many bytes queued (slow reader, §3.5). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** How often a congested socket is looked at again. */
const CONGESTION_RETRY_MS = 10;
/** After a failed store read, a delivering subscription reads again this much later. */
const PUMP_RETRY_MS = 500;
/** Messages read per store list while catching a delivering subscriber up. */
const DELIVER_PAGE = 100;

export interface HubOptions {
  store: RelayStore;
  notifier: QueueWakes;
  sodium: Promise<Sodium>;
  log: (line: string) => void;
  /** Auth-failure lines go through this, so forged subscribes cannot flood the log (§3.2). */
  authLog: LogThrottle;
  rateLimit: RateLimit | false;
  pingIntervalMs: number;
  maxMessageBytes: number;
  /**
   * Stores a message and wakes its readers; the same path HTTP sends take (§3.6).
   * The hub never learns which store is behind it.
   */
  put: (queue: string, body: Uint8Array, clientId: string) => Promise<PutResult & { reader?: 'live' | 'push' | 'none' }>;
  /**
   * The per-IP request bucket of §3.4 that HTTP requests are charged to: a send over the socket
   * costs what an HTTP send costs, so the socket is no way around the HTTP limit.
   */
  requestLimiter: RateLimiter | undefined;
}

/** One subscription of one socket. `cursor` is the highest id delivered on it (0 = none). */
interface Sub {
  readonly queue: string;
  deliver: boolean;
  /** Deliveries may precede the commit (protocol 3, §3.6 "Early delivery"). */
  early: boolean;
  /** Deliveries go out as binary frames (protocol 4, §3.5.1). */
  binary: boolean;
  unlisten: () => void;
  cursor: bigint;
  /** Everything stored up to `cursor` was delivered and nothing is being read: a new message can go out at once. */
  caughtUp: boolean;
  pumping: boolean;
  again: boolean;
  /**
   * Announced messages (with their bodies) that arrived while the subscription had to read the
   * store instead. Delivered after the read if it did not return them: a read on a replicated
   * stream can miss a message that was just written (PROTOCOL.md §3.6), and the announcement
   * is only sent after the store acknowledged it, so the body in hand is the stored one.
   */
  readonly carried: Map<bigint, StoredMessage>;
  /**
   * The lowest id whose early announcement this subscription had to pass over (it was congested,
   * catching up or reading the store), until that message's commit is announced or it is
   * delivered. Meanwhile no later message goes out early: that would move the cursor past it,
   * and the announcement after its commit would then be taken for one already delivered.
   */
  heldEarly: bigint | undefined;
}

interface Conn {
  readonly ws: WebSocket;
  /** The socket under `ws`, corked per turn (corkUntilTick). */
  readonly socket: Duplex;
  readonly remote: string;
  readonly subs: Map<string, Sub>;
  alive: boolean;
  /** Subscriptions waiting for the socket to drain. */
  readonly stalled: Set<Sub>;
  stallTimer: NodeJS.Timeout | undefined;
}

export class RelayWebSocketHub {
  readonly #wss: WebSocketServer;
  readonly #conns = new Set<Conn>();
  readonly #opts: HubOptions;
  readonly #pingTimer: NodeJS.Timeout;
  /**
   * Frames are charged to the client IP, not the socket: a fresh bucket per socket let one
   * client multiply its budget of Ed25519 verifications by opening more sockets (§3.4).
   */
  readonly #frameLimiter: RateLimiter | undefined;
  readonly #socketsByIp = new Map<string, number>();
  readonly #subsByIp = new Map<string, number>();
  /** Subscriptions with `early`, by queue: a put pays for deciding early only where one listens (§3.6). */
  readonly #earlyByQueue = new Map<string, number>();

  constructor(opts: HubOptions) {
    this.#opts = opts;
    const rl = opts.rateLimit;
    this.#frameLimiter = rl === false ? undefined : new RateLimiter({ perSecond: rl.perSecond, burst: Math.max(rl.burst, MIN_FRAME_BURST) });
    // The largest frame is a send of a full-size message; a bigger one closes the socket (1009)
    // instead of being buffered. Control frames are held to 4096 bytes by the parser.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes(opts.maxMessageBytes), perMessageDeflate: false });
    this.#pingTimer = setInterval(() => this.#pingAll(), opts.pingIntervalMs);
    this.#pingTimer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const remote = clientAddress(req);
    // Counted from the upgrade request on, so a burst of handshakes cannot overshoot the cap.
    if ((this.#socketsByIp.get(remote) ?? 0) >= MAX_SOCKETS_PER_IP) {
      const body = JSON.stringify({
        error: { code: 'too_many_connections', message: `at most ${MAX_SOCKETS_PER_IP} WebSocket connections per client` },
      });
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    bumpCount(this.#socketsByIp, remote, 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      bumpCount(this.#socketsByIp, remote, -1);
    };
    // A handshake that fails never reaches #accept; the socket's close still gives the slot back.
    socket.once('close', release);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, socket, remote, release));
  }

  #accept(ws: WebSocket, socket: Duplex, remote: string, release: () => void): void {
    const conn: Conn = { ws, socket, remote, subs: new Map(), alive: true, stalled: new Set(), stallTimer: undefined };
    this.#conns.add(conn);
    ws.once('close', release);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.#onFrame(conn, data, isBinary).catch((e: unknown) => {
        this.#opts.log(`ws frame handling failed: ${e instanceof Error ? e.message : String(e)}`);
        this.#send(conn, { op: 'error', code: 'internal', message: 'internal relay error' });
      });
    });
    ws.on('error', (e) => this.#opts.log(`ws error from ${conn.remote}: ${e.message}`));
    ws.on('close', () => this.#drop(conn));
    // Tells the client which operations this relay has (protocol 2: send, deliver, ack).
    this.#send(conn, { op: 'ready', protocol: RELAY_PROTOCOL_VERSION, max_message_bytes: this.#opts.maxMessageBytes });
  }

  async #onFrame(conn: Conn, data: RawData, isBinary: boolean): Promise<void> {
    conn.alive = true;
    // Only a send may be binary (§3.5.1); both encodings then take the same path, so a binary
    // send is charged, deduplicated and answered as a JSON one.
    const bytes = frameBytes(data);
    const parsed: FrameParse = isBinary
      ? sendFrame(parseBinaryClientFrame(bytes, this.#opts.maxMessageBytes))
      : parseClientFrame(bytes.toString('utf8'), this.#opts.maxMessageBytes);
    if (!parsed.ok) {
      if (!this.#takeFrame(conn)) return;
      const { ok: _ok, ...rest } = parsed;
      this.#send(conn, { op: 'error', ...rest });
      return;
    }
    const { frame } = parsed;
    if (frame.op === 'send') {
      await this.#onSend(conn, frame);
      return;
    }
    if (!this.#takeFrame(conn)) return;
    if (frame.op === 'ack') {
      await this.#onAck(conn, frame);
      return;
    }
    if (frame.op === 'unsubscribe') {
      const sub = conn.subs.get(frame.queue);
      if (sub !== undefined) this.#unsubscribe(conn, sub);
      this.#send(conn, { op: 'unsubscribed', queue: frame.queue });
      return;
    }
    await this.#onSubscribe(conn, frame);
  }

  /** Charges one frame to the client's frame bucket; answers rate_limited and returns false when it is empty. */
  #takeFrame(conn: Conn): boolean {
    if (this.#frameLimiter === undefined || this.#frameLimiter.take(conn.remote, Date.now()).ok) return true;
    this.#send(conn, { op: 'error', code: 'rate_limited', message: 'too many frames; slow down' });
    return false;
  }

  async #onSend(conn: Conn, frame: Extract<ClientFrame, { op: 'send' }>): Promise<void> {
    const { queue, cid } = frame;
    if (this.#opts.requestLimiter !== undefined && !this.#opts.requestLimiter.take(conn.remote, Date.now()).ok) {
      this.#send(conn, { op: 'error', queue, cid, code: 'rate_limited', message: 'too many requests; slow down' });
      return;
    }
    let put: PutResult & { reader?: 'live' | 'push' | 'none' };
    try {
      put = await this.#opts.put(queue, frame.body, cid);
    } catch (e) {
      this.#opts.log(`ws send failed: ${e instanceof Error ? e.message : String(e)}`);
      this.#send(conn, { op: 'error', queue, cid, code: 'internal', message: 'internal relay error' });
      return;
    }
    if (!put.ok) {
      this.#send(conn, { op: 'error', queue, cid, code: 'queue_closed', message: 'this queue has been closed' });
      return;
    }
    // Only now: "stored" follows the commit (§3.6).
    this.#send(conn, { op: 'stored', cid, id: put.id, ...(put.reader !== undefined ? { reader: put.reader } : {}) });
  }

  async #onAck(conn: Conn, frame: Extract<ClientFrame, { op: 'ack' }>): Promise<void> {
    // The subscription's proof is the authority to ack on this socket (§3.5): no proof per ack.
    for (const queue of frame.acks.keys()) {
      if (!conn.subs.has(queue)) {
        this.#send(conn, { op: 'error', queue, ref: frame.ref, code: 'not_subscribed', message: 'subscribe to a queue on this socket before acking it here' });
        return;
      }
    }
    const counts = await Promise.all([...frame.acks].map(([queue, ids]) => this.#opts.store.ack(queue, ids)));
    this.#send(conn, { op: 'acked', ref: frame.ref, acked: counts.reduce((a, b) => a + b, 0) });
  }

  async #onSubscribe(conn: Conn, frame: Extract<ClientFrame, { op: 'subscribe' }>): Promise<void> {
    // Caps first, before the Ed25519 verify: a client over its caps costs no crypto (re-checked below,
    // since frames from one read are handled concurrently).
    if (!conn.subs.has(frame.queue) && this.#overCap(conn, frame.queue)) return;
    const sodium = await this.#opts.sodium;
    const pathname = `/v1/queues/${frame.queue}`;
    const check = verifyRelayProof(sodium, frame.auth, {
      method: 'SUBSCRIBE',
      pathname,
      queueId: frame.queue,
      nowSeconds: Math.floor(Date.now() / 1000),
      body: new Uint8Array(0), // SUBSCRIBE proofs sign an empty body (§3.5)
    });
    if (!check.ok) {
      this.#opts.authLog.line(conn.remote, 'auth failed', `auth failed: SUBSCRIBE ${pathname} from ${conn.remote}: ${check.reason}`, Date.now());
      this.#send(conn, { op: 'error', queue: frame.queue, code: 'unauthorized', message: RELAY_AUTH_FAILED_MESSAGE });
      return;
    }
    const queue = frame.queue;
    let sub = conn.subs.get(queue);
    if (sub === undefined) {
      if (this.#overCap(conn, queue)) return;
      // The socket may have closed while the proof was being checked; #drop has already run.
      if (conn.ws.readyState !== WebSocket.OPEN) return;
      bumpCount(this.#subsByIp, conn.remote, 1);
      const s: Sub = { queue, deliver: frame.deliver, early: frame.early, binary: frame.binary, unlisten: () => {}, cursor: 0n, caughtUp: false, pumping: false, again: false, carried: new Map(), heldEarly: undefined };
      if (s.early) bumpCount(this.#earlyByQueue, queue, 1);
      s.unlisten = this.#opts.notifier.listen(queue, (m, early) => this.#onStored(conn, s, m, early === true));
      conn.subs.set(queue, s);
      sub = s;
    } else {
      // Subscribing again restarts delivery from the oldest unacked message: the client's way to
      // have what it has not acked delivered again on a live socket (§3.5).
      sub.deliver = frame.deliver;
      if (sub.early !== frame.early) bumpCount(this.#earlyByQueue, queue, frame.early ? 1 : -1);
      sub.early = frame.early;
      sub.binary = frame.binary;
      sub.cursor = 0n;
      sub.caughtUp = false;
      sub.carried.clear();
    }
    this.#send(conn, { op: 'subscribed', queue });
    if (sub.deliver) {
      this.#pump(conn, sub);
      return;
    }
    // Messages stored before the subscription would otherwise wait for the next one.
    const pending = await this.#opts.store.list(queue, undefined, 1, Date.now());
    if (pending.length > 0) this.#send(conn, { op: 'wake', queue });
  }

  #onStored(conn: Conn, sub: Sub, message: Arrival | undefined, early: boolean): void {
    if (early) {
      // Before the commit (§3.6): only to a subscription that asked for it and has everything
      // before this message; otherwise the announcement after the commit takes the usual path.
      if (!sub.early || message === undefined) return;
      const id = BigInt(message.id);
      if (id <= sub.cursor) return;
      if (sub.heldEarly === undefined && sub.caughtUp && !sub.pumping && !this.#congested(conn)) {
        this.#deliver(conn, sub, message, id);
        return;
      }
      if (sub.heldEarly === undefined || id < sub.heldEarly) sub.heldEarly = id;
      return;
    }
    if (!sub.deliver) {
      this.#send(conn, { op: 'wake', queue: sub.queue });
      return;
    }
    // The common case costs no store read: the subscriber has everything before this message,
    // and the storer handed it over. Between nodes, announcements can overtake each other; one
    // whose predecessor in the queue is past the cursor means an earlier one is still on its way
    // (or was acked before this subscription read the queue): read the store, in id order.
    if (message !== undefined) {
      const id = BigInt(message.id);
      // Committed (or refused, when a later one's commit is announced): early delivery may resume.
      releaseHeldEarly(sub, id);
      if (id <= sub.cursor) return;
      const inOrder = message.previousId === undefined || BigInt(message.previousId) <= sub.cursor;
      if (inOrder && sub.caughtUp && !sub.pumping && !this.#congested(conn)) {
        this.#deliver(conn, sub, message, id);
        return;
      }
      // Copied: the body may be a view into a socket's read chunk (sendFrame), and a stalled
      // reader could keep it for long.
      if (message.previousId !== undefined && sub.carried.size < DELIVER_PAGE) sub.carried.set(id, { ...message, body: new Uint8Array(message.body) });
    }
    sub.caughtUp = false;
    this.#pump(conn, sub);
  }

  /** Reads the queue after the subscription's cursor and delivers it, until caught up or the socket is congested. */
  #pump(conn: Conn, sub: Sub): void {
    if (sub.pumping) {
      sub.again = true;
      return;
    }
    sub.pumping = true;
    const run = async (): Promise<void> => {
      for (;;) {
        sub.again = false;
        if (conn.subs.get(sub.queue) !== sub || conn.ws.readyState !== WebSocket.OPEN) return;
        if (this.#congested(conn)) {
          this.#stall(conn, sub);
          return;
        }
        const after = sub.cursor === 0n ? undefined : sub.cursor.toString();
        const page = await this.#opts.store.list(sub.queue, after, DELIVER_PAGE, Date.now());
        if (conn.subs.get(sub.queue) !== sub) return;
        for (const m of page) {
          const id = BigInt(m.id);
          if (id > sub.cursor) this.#deliver(conn, sub, m, id);
        }
        if (page.length < DELIVER_PAGE && !sub.again) {
          // What was announced but not read back (a read that missed a fresh write) goes out now.
          const carried = [...sub.carried].filter(([id]) => id > sub.cursor).sort(([a], [b]) => (a < b ? -1 : 1));
          sub.carried.clear();
          for (const [id, m] of carried) this.#deliver(conn, sub, m, id);
          sub.caughtUp = true;
          return;
        }
      }
    };
    run()
      .catch((e: unknown) => {
        this.#opts.log(`ws delivery failed: ${e instanceof Error ? e.message : String(e)}`);
        // The store did not answer (a JetStream leader election takes seconds): read again soon,
        // or the subscription would wait for the next message stored in its queue.
        const t = setTimeout(() => {
          if (conn.subs.get(sub.queue) === sub && conn.ws.readyState === WebSocket.OPEN) this.#pump(conn, sub);
        }, PUMP_RETRY_MS);
        t.unref();
      })
      .finally(() => {
        sub.pumping = false;
        // A message stored between run()'s last look and here found `pumping` still set and
        // only raised `again`: without this, it waited for the next message or a resubscribe.
        if (sub.again) this.#pump(conn, sub);
      });
  }

  #deliver(conn: Conn, sub: Sub, m: StoredMessage, id: bigint): void {
    sub.cursor = id;
    releaseHeldEarly(sub, id);
    // Clamped, and an empty body in JSON: what another node announced is checked, but a binary
    // frame has no encoding for a negative time or an empty body, and must not throw here.
    const receivedAt = Math.max(0, Math.floor(m.receivedAt / 1000));
    if (sub.binary && m.body.length > 0) this.#sendBytes(conn, encodeBinaryDeliver({ queue: sub.queue, id: m.id, receivedAt, body: m.body }));
    else this.#send(conn, { op: 'deliver', queue: sub.queue, id: m.id, body: encodeBase64url(m.body), received_at: receivedAt });
  }

  #congested(conn: Conn): boolean {
    if (conn.ws.bufferedAmount <= MAX_BUFFERED_BYTES) return false;
    // Frames corked this turn count in bufferedAmount but were never offered to the reader:
    // written out, what the kernel takes leaves the count, and only the rest is the reader's.
    flushCorked(conn.socket);
    return conn.ws.bufferedAmount > MAX_BUFFERED_BYTES;
  }

  /** A slow reader: deliveries on this socket wait until its send buffer drains (§3.5). */
  #stall(conn: Conn, sub: Sub): void {
    sub.caughtUp = false;
    conn.stalled.add(sub);
    if (conn.stallTimer !== undefined) return;
    const check = (): void => {
      conn.stallTimer = undefined;
      if (conn.ws.readyState !== WebSocket.OPEN) return;
      if (this.#congested(conn)) {
        conn.stallTimer = setTimeout(check, CONGESTION_RETRY_MS);
        return;
      }
      const subs = [...conn.stalled];
      conn.stalled.clear();
      for (const s of subs) this.#pump(conn, s);
    };
    conn.stallTimer = setTimeout(check, CONGESTION_RETRY_MS);
  }

  /** Whether a subscription on this node asked for early delivery of `queue` (§3.6). */
  wantsEarly(queue: string): boolean {
    return this.#earlyByQueue.has(queue);
  }

  #unsubscribe(conn: Conn, sub: Sub): void {
    if (sub.early) bumpCount(this.#earlyByQueue, sub.queue, -1);
    sub.unlisten();
    conn.subs.delete(sub.queue);
    conn.stalled.delete(sub);
    bumpCount(this.#subsByIp, conn.remote, -1);
  }

  /** Sends too_many_subscriptions and returns true if one more subscription would pass a cap (§3.5). */
  #overCap(conn: Conn, queue: string): boolean {
    let message: string | undefined;
    if (conn.subs.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) message = `at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} queues per connection`;
    else if ((this.#subsByIp.get(conn.remote) ?? 0) >= MAX_SUBSCRIPTIONS_PER_IP) {
      message = `at most ${MAX_SUBSCRIPTIONS_PER_IP} queues per client across its connections`;
    }
    if (message === undefined) return false;
    this.#send(conn, { op: 'error', queue, code: 'too_many_subscriptions', message });
    return true;
  }

  #send(conn: Conn, frame: ServerFrame): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    // The turn's frames to this socket leave in one write.
    corkUntilTick(conn.socket);
    conn.ws.send(encodeServerFrame(frame));
  }

  #sendBytes(conn: Conn, frame: Uint8Array): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    corkUntilTick(conn.socket);
    conn.ws.send(frame, { binary: true });
  }

  #drop(conn: Conn): void {
    for (const sub of conn.subs.values()) {
      if (sub.early) bumpCount(this.#earlyByQueue, sub.queue, -1);
      sub.unlisten();
    }
    bumpCount(this.#subsByIp, conn.remote, -conn.subs.size);
    conn.subs.clear();
    conn.stalled.clear();
    if (conn.stallTimer !== undefined) clearTimeout(conn.stallTimer);
    this.#conns.delete(conn);
  }

  #pingAll(): void {
    for (const conn of this.#conns) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#pingTimer);
    for (const conn of this.#conns) {
      conn.ws.close(1001, 'relay shutting down');
      this.#drop(conn);
    }
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  /** Forgets refilled frame buckets; called from the relay's sweep. */
  sweep(now: number): void {
    this.#frameLimiter?.sweep(now);
  }
}

/** Message `id` was committed or delivered: a hold on early delivery for it (or an earlier one) ends. */
function releaseHeldEarly(sub: Sub, id: bigint): void {
  if (sub.heldEarly !== undefined && id >= sub.heldEarly) sub.heldEarly = undefined;
}

/** A frame's bytes, whichever form `ws` hands them in (one Buffer, an ArrayBuffer, fragments). */
function frameBytes(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/**
 * A binary send's parse as the JSON frame parse it stands for. The body stays a view into the
 * frame `ws` read, and so into its read chunk (up to 64 KiB): the frame is a Buffer, so the
 * `slice()` that stood here until 2026-12-03 made a view too, not the copy its comment promised.
 * What may hold a body for long copies it instead: the SQLite store's batch, a carried delivery
 * (a stalled reader), a pending push (a push service's Retry-After). The rest hold it for a
 * commit or a publish. A copy here, pooled (`Buffer.from`) or an ArrayBuffer of its own, cost the
 * full cycle 2-5% of its throughput (three interleaved pairs each, §3.8).
 */
function sendFrame(p: BinarySendParse): FrameParse {
  return p.ok ? { ok: true, frame: { op: 'send', ...p.frame } } : p;
}
