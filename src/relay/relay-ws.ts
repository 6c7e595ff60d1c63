/**
 * WebSocket wake-ups (PROTOCOL.md §3.5). A subscriber proves it owns each queue, then gets
 * {"op":"wake"} whenever a message is stored there; it fetches over HTTP. Wakes carry
 * no message data, so a lost wake costs latency only, never a message.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Sodium } from '../protocol/sodium.js';
import type { LogThrottle } from './log-throttle.js';
import type { QueueNotifier } from './queue-notifier.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { RELAY_AUTH_FAILED_MESSAGE, verifyRelayProof } from './relay-proof.js';
import type { RelayStore } from './relay-store.js';
import { MAX_CLIENT_FRAME_BYTES, parseClientFrame, type ServerFrame } from './relay-ws-frame.js';
import { clientAddress } from '../util/client-address.js';

export const MAX_SUBSCRIPTIONS_PER_SOCKET = 1000;
/** Open sockets per client IP (PROTOCOL.md §3.5): bounds the memory and wake fan-out one client can hold. */
export const MAX_SOCKETS_PER_IP = 32;
/** Subscriptions per client IP across all its sockets (PROTOCOL.md §3.5). */
export const MAX_SUBSCRIPTIONS_PER_IP = 4000;
/** Frame bucket burst: at least one full 1000-queue subscribe plus a little (PROTOCOL.md §3.4). */
const MIN_FRAME_BURST = MAX_SUBSCRIPTIONS_PER_SOCKET + 100;

export interface HubOptions {
  store: RelayStore;
  notifier: QueueNotifier;
  sodium: Promise<Sodium>;
  log: (line: string) => void;
  /** Auth-failure lines go through this, so forged subscribes cannot flood the log (§3.2). */
  authLog: LogThrottle;
  rateLimit: RateLimit | false;
  pingIntervalMs: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly remote: string;
  readonly subs: Map<string, () => void>; // queue -> unlisten
  alive: boolean;
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

  constructor(opts: HubOptions) {
    this.#opts = opts;
    const rl = opts.rateLimit;
    this.#frameLimiter = rl === false ? undefined : new RateLimiter({ perSecond: rl.perSecond, burst: Math.max(rl.burst, MIN_FRAME_BURST) });
    // Client frames are small JSON; a bigger frame closes the socket (1009) instead of being buffered.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES, perMessageDeflate: false });
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
    bump(this.#socketsByIp, remote, 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      bump(this.#socketsByIp, remote, -1);
    };
    // A handshake that fails never reaches #accept; the socket's close still gives the slot back.
    socket.once('close', release);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, remote, release));
  }

  #accept(ws: WebSocket, remote: string, release: () => void): void {
    const conn: Conn = { ws, remote, subs: new Map(), alive: true };
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
  }

  async #onFrame(conn: Conn, data: RawData, isBinary: boolean): Promise<void> {
    conn.alive = true;
    if (this.#frameLimiter !== undefined && !this.#frameLimiter.take(conn.remote, Date.now()).ok) {
      this.#send(conn, { op: 'error', code: 'rate_limited', message: 'too many frames; slow down' });
      return;
    }
    if (isBinary) {
      this.#send(conn, { op: 'error', code: 'bad_frame', message: 'frames must be text JSON' });
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      const frame: ServerFrame =
        parsed.queue === undefined
          ? { op: 'error', code: 'bad_frame', message: parsed.message }
          : { op: 'error', queue: parsed.queue, code: 'bad_frame', message: parsed.message };
      this.#send(conn, frame);
      return;
    }
    const { frame } = parsed;
    if (frame.op === 'unsubscribe') {
      const unlisten = conn.subs.get(frame.queue);
      if (unlisten !== undefined) {
        unlisten();
        conn.subs.delete(frame.queue);
        bump(this.#subsByIp, conn.remote, -1);
      }
      this.#send(conn, { op: 'unsubscribed', queue: frame.queue });
      return;
    }
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
    if (!conn.subs.has(frame.queue)) {
      if (this.#overCap(conn, frame.queue)) return;
      // The socket may have closed while the proof was being checked; #drop has already run.
      if (conn.ws.readyState !== WebSocket.OPEN) return;
      bump(this.#subsByIp, conn.remote, 1);
      const queue = frame.queue;
      conn.subs.set(queue, this.#opts.notifier.listen(queue, () => this.#send(conn, { op: 'wake', queue })));
    }
    this.#send(conn, { op: 'subscribed', queue: frame.queue });
    // Messages stored before the subscription would otherwise wait for the next one.
    const pending = await this.#opts.store.list(frame.queue, undefined, 1, Date.now());
    if (pending.length > 0) this.#send(conn, { op: 'wake', queue: frame.queue });
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
    conn.ws.send(JSON.stringify(frame));
  }

  #drop(conn: Conn): void {
    for (const unlisten of conn.subs.values()) unlisten();
    bump(this.#subsByIp, conn.remote, -conn.subs.size);
    conn.subs.clear();
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

/** Adds `delta` to a per-IP counter, dropping the entry at zero so idle clients cost no memory. */
function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
