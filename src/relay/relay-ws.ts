/**
 * WebSocket wake-ups (PROTOCOL.md §3.5). A subscriber proves it owns each queue, then gets
 * {"op":"wake"} whenever a message is stored there; it fetches over HTTP. Wakes carry
 * no message data, so a lost wake costs latency only, never a message.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Sodium } from '../protocol/sodium.js';
import type { QueueNotifier } from './queue-notifier.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { RELAY_AUTH_FAILED_MESSAGE, verifyRelayProof } from './relay-proof.js';
import type { RelayStore } from './relay-store.js';
import { MAX_CLIENT_FRAME_BYTES, parseClientFrame, type ServerFrame } from './relay-ws-frame.js';

export const MAX_SUBSCRIPTIONS_PER_SOCKET = 1000;

export interface HubOptions {
  store: RelayStore;
  notifier: QueueNotifier;
  sodium: Promise<Sodium>;
  log: (line: string) => void;
  rateLimit: RateLimit | false;
  pingIntervalMs: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly remote: string;
  readonly subs: Map<string, () => void>; // queue -> unlisten
  readonly limiter: RateLimiter | undefined;
  alive: boolean;
}

export class RelayWebSocketHub {
  readonly #wss: WebSocketServer;
  readonly #conns = new Set<Conn>();
  readonly #opts: HubOptions;
  readonly #pingTimer: NodeJS.Timeout;

  constructor(opts: HubOptions) {
    this.#opts = opts;
    // Client frames are small JSON; a bigger frame closes the socket (1009) instead of being buffered.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES, perMessageDeflate: false });
    this.#pingTimer = setInterval(() => this.#pingAll(), opts.pingIntervalMs);
    this.#pingTimer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const rl = this.#opts.rateLimit;
    const conn: Conn = {
      ws,
      remote: req.socket.remoteAddress ?? '?',
      subs: new Map(),
      // Per connection, so one socket subscribing to its 1000 queues at once fits in the burst.
      limiter: rl === false ? undefined : new RateLimiter({ perSecond: rl.perSecond, burst: Math.max(rl.burst, MAX_SUBSCRIPTIONS_PER_SOCKET + 100) }),
      alive: true,
    };
    this.#conns.add(conn);
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
    if (conn.limiter !== undefined && !conn.limiter.take('', Date.now()).ok) {
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
      conn.subs.get(frame.queue)?.();
      conn.subs.delete(frame.queue);
      this.#send(conn, { op: 'unsubscribed', queue: frame.queue });
      return;
    }
    const sodium = await this.#opts.sodium;
    const pathname = `/v1/queues/${frame.queue}`;
    const check = verifyRelayProof(sodium, frame.auth, {
      method: 'SUBSCRIBE',
      pathname,
      queueId: frame.queue,
      nowSeconds: Math.floor(Date.now() / 1000),
    });
    if (!check.ok) {
      this.#opts.log(`auth failed: SUBSCRIBE ${pathname} from ${conn.remote}: ${check.reason}`);
      this.#send(conn, { op: 'error', queue: frame.queue, code: 'unauthorized', message: RELAY_AUTH_FAILED_MESSAGE });
      return;
    }
    if (!conn.subs.has(frame.queue)) {
      if (conn.subs.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) {
        this.#send(conn, {
          op: 'error',
          queue: frame.queue,
          code: 'too_many_subscriptions',
          message: `at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} queues per connection`,
        });
        return;
      }
      const queue = frame.queue;
      conn.subs.set(queue, this.#opts.notifier.listen(queue, () => this.#send(conn, { op: 'wake', queue })));
    }
    this.#send(conn, { op: 'subscribed', queue: frame.queue });
    // Messages stored before the subscription would otherwise wait for the next one.
    const pending = await this.#opts.store.list(frame.queue, undefined, 1, Date.now());
    if (pending.length > 0) this.#send(conn, { op: 'wake', queue: frame.queue });
  }

  #send(conn: Conn, frame: ServerFrame): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    conn.ws.send(JSON.stringify(frame));
  }

  #drop(conn: Conn): void {
    for (const unlisten of conn.subs.values()) unlisten();
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
}
