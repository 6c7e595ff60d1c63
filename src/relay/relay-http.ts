/**
 * The relay's HTTP routes (PROTOCOL.md §3.3-§4), as a handler a node:http server can
 * compose with other services on one port: handle() returns false for paths that
 * are not the relay's. Every failure is a JSON error; no input may crash it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isQueueId } from '../protocol/queue-id.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { sodiumReady } from '../protocol/sodium.js';
import { LatchError } from '../util/latch-error.js';
import { LogThrottle } from './log-throttle.js';
import { QueueNotifier } from './queue-notifier.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import { RELAY_AUTH_FAILED_MESSAGE, RELAY_AUTH_HEADER, verifyRelayProof } from './relay-proof.js';
import { isMessageId, type PutResult, type RelayStore, type StoredMessage } from './relay-store.js';
import { RelayWebSocketHub } from './relay-ws.js';
import { RELAY_PROTOCOL_VERSION } from './relay-ws-frame.js';
import { SqliteRelayStore } from './sqlite-relay-store.js';
import { clientAddress } from '../util/client-address.js';
import type { PushSender } from './push-sender.js';
import type { PushSubscriptionStore } from './push-subscription-store.js';
import { parsePushRegistration, PUSH_HEADER } from './push-registration.js';
import { DEFAULT_PUSH_SERVICE_HOSTS, isAllowedPushEndpoint } from './push-service-hosts.js';

export { RELAY_PROTOCOL_VERSION };
export const DEFAULT_TTL_SECONDS = 172800;
export const DEFAULT_MAX_MESSAGE_BYTES = 65536;
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100, burst: 1000 };
export const MAX_WAIT_SECONDS = 30;
export const MAX_LIST_LIMIT = 100;
export const MAX_ACK_IDS = 1000;
const MAX_JSON_BODY_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 200;
/** Bytes of an over-long body we read and discard so the client sees our 413, not a reset. */
const MAX_DRAIN_BYTES = 1024 * 1024;
/** Waiting long-polls in all (PROTOCOL.md §3.3); WebSocket subscriptions are capped separately (§3.5). */
export const MAX_LONG_POLLS = 10000;
/** Waiting long-polls per client IP, so one client cannot take the whole pool (§3.3). */
export const MAX_LONG_POLLS_PER_IP = 100;
/** Auth-failure log lines per client IP per minute before they are summarised (§3.2). */
const AUTH_LOG_LINES_PER_MINUTE = 20;
const EMPTY_BODY = new Uint8Array(0);

export interface RelayOptions {
  /** Where relay.sqlite lives; ignored when `store` is given. */
  dataDir?: string;
  store?: RelayStore;
  ttlSeconds?: number;
  maxMessageBytes?: number;
  rateLimit?: RateLimit | false;
  log?: (line: string) => void;
  /** How often expired messages are purged; default min(60 s, ttl). */
  sweepIntervalMs?: number;
  /** WebSocket ping interval; default 25 s. */
  pingIntervalMs?: number;
  /** The URL authenticators reach this relay at (`latch server --public-url`); /v1/health names it. */
  publicUrl?: string;
  /** Web Push wake-ups (issue 14, §3.9); without it the push routes answer 503 `push_off`. */
  push?: { sender: PushSender; store: PushSubscriptionStore; allowedHosts?: readonly string[] };
}

/**
 * Who will see a stored message (the send answer's `reader`, PROTOCOL.md §3.9): a reader that is
 * listening now, one woken by a push, or nobody until the app opens.
 */
export type ReaderState = 'live' | 'push' | 'none';
export type SendResult = PutResult & { reader?: ReaderState };

export interface Relay {
  /** Serves the request and returns true if the path is the relay's; otherwise returns false and does nothing. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * Queues a message as `POST /v1/queues/Q/messages` would, from inside the process: the
   * custody part delivers notices to this relay without a network round trip (issue 15 §4).
   */
  deliver(queue: string, body: Uint8Array): Promise<{ id: string }>;
  close(): Promise<void>;
}

class HttpError extends LatchError {
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(code, message, { status });
    this.headers = headers;
  }
}

const CORS_HEADERS: Record<string, string> = {
  // The web authenticator calls the relay from a browser; auth is a header proof, not a cookie.
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'latch-auth, content-type',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-expose-headers': 'retry-after',
  'access-control-max-age': '600',
};

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...CORS_HEADERS,
    ...headers,
  });
  res.end(body);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

function isRelayPath(pathname: string): boolean {
  return (
    pathname === '/v1/health' ||
    pathname === '/v1/ws' ||
    pathname === '/v1/push' ||
    pathname === '/v1/queues' ||
    pathname.startsWith('/v1/queues/')
  );
}

function pathnameOf(rawUrl: string | undefined): string | undefined {
  // Only origin-form targets ("/path?query"); the proof signs this exact pathname.
  if (typeof rawUrl !== 'string' || !rawUrl.startsWith('/')) return undefined;
  const q = rawUrl.indexOf('?');
  return q === -1 ? rawUrl : rawUrl.slice(0, q);
}

export function createRelay(opts: RelayOptions): Relay {
  const ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!(ttlSeconds > 0)) throw new TypeError('ttlSeconds must be positive');
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) throw new TypeError('maxMessageBytes must be a positive integer');
  const log = opts.log ?? (() => {});
  let store: RelayStore;
  if (opts.store !== undefined) store = opts.store;
  else if (opts.dataDir !== undefined) store = new SqliteRelayStore({ dataDir: opts.dataDir, ttlSeconds });
  else throw new TypeError('createRelay needs dataDir or store');
  const rateLimitCfg = opts.rateLimit === undefined ? DEFAULT_RATE_LIMIT : opts.rateLimit;
  const limiter = rateLimitCfg === false ? undefined : new RateLimiter(rateLimitCfg);
  const notifier = store.wakes ?? new QueueNotifier();
  const closing = new Set<() => void>(); // long-polls to release on close()
  // Long-polls are counted on their own: counting WebSocket subscriptions with them let one
  // client with many sockets make every long-poll 503 (§3.3).
  let longPolls = 0;
  const longPollsByIp = new Map<string, number>();
  const authLog = new LogThrottle(log, { perWindow: AUTH_LOG_LINES_PER_MINUTE, windowMs: 60_000 });
  let closed = false;

  const sodiumP = sodiumReady();

  /** `body` is the raw request body the proof must cover (§3.2): empty for GET. */
  async function checkProof(req: IncomingMessage, method: string, pathname: string, queue: string, body: Uint8Array): Promise<void> {
    const sodium = await sodiumP;
    const check = verifyRelayProof(sodium, req.headers[RELAY_AUTH_HEADER], {
      method,
      pathname,
      queueId: queue,
      nowSeconds: Math.floor(Date.now() / 1000),
      body,
    });
    if (!check.ok) {
      const remote = clientAddress(req);
      authLog.line(remote, 'auth failed', `auth failed: ${method} ${pathname} from ${remote}: ${check.reason}`, Date.now());
      throw new HttpError(401, 'unauthorized', RELAY_AUTH_FAILED_MESSAGE);
    }
  }

  /**
   * Every send, HTTP or WebSocket, goes through here: one atomic closed-check-and-insert (§3.6),
   * then the queue's readers are woken with the message in hand. A duplicate (same client
   * message id) was announced when it was first stored, so it wakes nobody.
   */
  async function putMessage(queue: string, body: Uint8Array, clientId?: string, push = true): Promise<SendResult> {
    const now = Date.now();
    // Subscriptions that asked for early delivery get the message before the commit (§3.6).
    const early = hub.wantsEarly(queue) ? (m: StoredMessage) => notifier.notify(queue, m, true) : undefined;
    const put = await store.put(queue, body, now, clientId, early);
    if (!put.ok || put.duplicate) return put;
    const message = { id: put.id, body, receivedAt: now, ...(put.previousId !== undefined ? { previousId: put.previousId } : {}) };
    // Asked before the wake-up: a listener that takes the message now is a live reader (§3.9).
    const live = notifier.has(queue);
    notifier.notify(queue, message);
    if (live) return { ...put, reader: 'live' };
    // A queue with a subscription and nobody listening: one push (batched per subscription),
    // unless the sender asked for none (`Latch-Push: off`, §3.9).
    if (push && opts.push !== undefined && (await opts.push.store.get(queue)) !== undefined) {
      opts.push.sender.wake(queue, message);
      return { ...put, reader: 'push' };
    }
    return { ...put, reader: 'none' };
  }

  const hub = new RelayWebSocketHub({
    store,
    notifier,
    sodium: sodiumP,
    log,
    authLog,
    rateLimit: rateLimitCfg,
    pingIntervalMs: opts.pingIntervalMs ?? 25000,
    maxMessageBytes,
    put: putMessage,
    requestLimiter: limiter,
  });

  const sweepMs = opts.sweepIntervalMs ?? Math.min(60000, Math.max(1000, ttlSeconds * 1000));
  const sweepTimer = setInterval(() => {
    limiter?.sweep(Date.now());
    hub.sweep(Date.now());
    authLog.sweep(Date.now());
    store.purgeExpired(Date.now()).then(
      (n) => n > 0 && log(`purged ${n} expired messages`),
      (e: unknown) => log(`purge failed: ${String(e)}`),
    );
  }, sweepMs);
  sweepTimer.unref();

  function rateCheck(req: IncomingMessage): void {
    if (limiter === undefined) return;
    const d = limiter.take(clientAddress(req), Date.now());
    if (!d.ok) {
      throw new HttpError(429, 'rate_limited', 'too many requests; slow down', { 'retry-after': String(d.retryAfterSeconds) });
    }
  }

  /** Reads at most `max` bytes; rejects with 413 as soon as the body is known to be larger. */
  function readBody(req: IncomingMessage, max: number, tooLarge: () => HttpError): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let done = false;
      const finish = (err: Error | undefined, value?: Buffer) => {
        if (done) return;
        done = true;
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onErr);
        req.off('aborted', onAborted);
        if (err) reject(err);
        else resolve(value!);
      };
      const onData = (chunk: Buffer) => {
        total += chunk.length;
        if (total > max) {
          chunks.length = 0;
          finish(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => finish(undefined, Buffer.concat(chunks, total));
      const onErr = (e: Error) => finish(e);
      const onAborted = () => finish(new Error('request aborted'));
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onErr);
      req.on('aborted', onAborted);
    });
  }

  /** The raw JSON body, size-bounded; read before the proof is checked because the proof covers it (§3.2). */
  function readJsonBytes(req: IncomingMessage): Promise<Buffer> {
    return readBody(req, MAX_JSON_BODY_BYTES, () => new HttpError(413, 'body_too_large', `JSON body over ${MAX_JSON_BODY_BYTES} bytes`));
  }

  function parseJson(raw: Buffer): unknown {
    if (raw.length === 0) return undefined;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new HttpError(400, 'bad_json', 'body is not UTF-8');
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'bad_json', 'body is not valid JSON');
    }
  }

  function parseQuery(rawUrl: string): { wait: number; limit: number; after: string | undefined } {
    const q = rawUrl.indexOf('?');
    const params = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
    let wait = 0;
    let limit = MAX_LIST_LIMIT;
    let after: string | undefined;
    const seen = new Set<string>();
    for (const [key, value] of params) {
      if (seen.has(key)) throw new HttpError(400, 'bad_request', `query parameter ${JSON.stringify(key.slice(0, 40))} repeated`);
      seen.add(key);
      if (key === 'wait') {
        if (!/^(0|[1-9][0-9]?)$/.test(value) || Number(value) > MAX_WAIT_SECONDS) {
          throw new HttpError(400, 'bad_request', `wait must be an integer 0..${MAX_WAIT_SECONDS}`);
        }
        wait = Number(value);
      } else if (key === 'limit') {
        if (!/^[1-9][0-9]{0,2}$/.test(value) || Number(value) > MAX_LIST_LIMIT) {
          throw new HttpError(400, 'bad_request', `limit must be an integer 1..${MAX_LIST_LIMIT}`);
        }
        limit = Number(value);
      } else if (key === 'after') {
        if (value !== '0' && !isMessageId(value)) throw new HttpError(400, 'bad_request', 'after must be a message id');
        after = value === '0' ? undefined : value;
      } else {
        throw new HttpError(400, 'bad_request', `unknown query parameter ${JSON.stringify(key.slice(0, 40))}`);
      }
    }
    return { wait, limit, after };
  }

  function waitForMessage(queue: string, ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        stop();
        res.off('close', done);
        closing.delete(done);
        resolve();
      };
      // Only committed messages end a long-poll: an early announcement (§3.6) is not readable yet.
      const stop = notifier.listen(queue, (_m, early) => {
        if (early !== true) done();
      });
      timer = setTimeout(done, ms);
      res.on('close', done);
      closing.add(done);
    });
  }

  async function postMessage(req: IncomingMessage, res: ServerResponse, queue: string): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      throw new HttpError(415, 'bad_content_type', 'messages must be sent as application/octet-stream');
    }
    // `Latch-Push: off`: store and deliver as usual, but never wake a closed app for it (§3.9).
    const pushHeader = req.headers[PUSH_HEADER];
    if (pushHeader !== undefined && pushHeader !== 'off') throw new HttpError(400, 'bad_request', `${PUSH_HEADER} may only be "off"`);
    const tooLarge = () => new HttpError(413, 'message_too_large', `messages are limited to ${maxMessageBytes} bytes`);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxMessageBytes) throw tooLarge();
    const queueClosed = () => new HttpError(410, 'queue_closed', 'this queue has been closed');
    // Cheap early rejection; not the guarantee, since the queue may close while the body arrives.
    if (await store.isClosed(queue, Date.now())) throw queueClosed();
    const body = await readBody(req, maxMessageBytes, tooLarge);
    if (body.length === 0) throw new HttpError(400, 'empty_message', 'message body is empty');
    // The store checks "closed" and inserts in one step, so nothing lands after a close+drain (§3.3).
    const put = await putMessage(queue, body, undefined, pushHeader !== 'off');
    if (!put.ok) throw queueClosed();
    sendJson(res, 201, { id: put.id, ...(put.reader !== undefined ? { reader: put.reader } : {}) });
  }

  async function getMessages(req: IncomingMessage, res: ServerResponse, queue: string, pathname: string): Promise<void> {
    await checkProof(req, 'GET', pathname, queue, EMPTY_BODY);
    const { wait, limit, after } = parseQuery(req.url!);
    let messages = await store.list(queue, after, limit, Date.now());
    if (messages.length === 0 && wait > 0) {
      const remote = clientAddress(req);
      const mine = longPollsByIp.get(remote) ?? 0;
      if (mine >= MAX_LONG_POLLS_PER_IP) {
        throw new HttpError(429, 'too_many_connections', `at most ${MAX_LONG_POLLS_PER_IP} waiting long-polls per client`, { 'retry-after': '1' });
      }
      if (longPolls >= MAX_LONG_POLLS) {
        throw new HttpError(503, 'busy', 'too many waiting readers; retry shortly', { 'retry-after': '1' });
      }
      longPolls++;
      longPollsByIp.set(remote, mine + 1);
      try {
        const deadline = Date.now() + wait * 1000;
        while (messages.length === 0 && !closed && !res.destroyed) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          await waitForMessage(queue, left, res);
          if (closed) break;
          messages = await store.list(queue, after, limit, Date.now());
        }
      } finally {
        longPolls--;
        const n = (longPollsByIp.get(remote) ?? 1) - 1;
        if (n <= 0) longPollsByIp.delete(remote);
        else longPollsByIp.set(remote, n);
      }
    }
    sendJson(res, 200, {
      messages: messages.map((m) => ({ id: m.id, body: encodeBase64url(m.body), received_at: Math.floor(m.receivedAt / 1000) })),
    });
  }

  async function postAck(req: IncomingMessage, res: ServerResponse, queue: string, pathname: string): Promise<void> {
    // Read first, then verify: the proof signs these exact bytes, so a captured ack header
    // cannot be replayed with other ids (§3.2).
    const raw = await readJsonBytes(req);
    await checkProof(req, 'POST', pathname, queue, raw);
    const body = parseJson(raw);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'bad_request', 'ack body must be {"ids":[...]}');
    }
    const keys = Object.keys(body);
    const ids = (body as Record<string, unknown>).ids;
    if (keys.length !== 1 || keys[0] !== 'ids' || !Array.isArray(ids)) {
      throw new HttpError(400, 'bad_request', 'ack body must be exactly {"ids":[...]}');
    }
    if (ids.length > MAX_ACK_IDS) throw new HttpError(400, 'bad_request', `at most ${MAX_ACK_IDS} ids per ack`);
    if (!ids.every(isMessageId)) throw new HttpError(400, 'bad_request', 'ids must be message id strings');
    const acked = await store.ack(queue, ids as string[]);
    sendJson(res, 200, { acked });
  }

  async function postClose(req: IncomingMessage, res: ServerResponse, queue: string, pathname: string): Promise<void> {
    const raw = await readJsonBytes(req);
    await checkProof(req, 'POST', pathname, queue, raw);
    const body = parseJson(raw);
    let reason: string | undefined;
    if (body !== undefined) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new HttpError(400, 'bad_request', 'close body must be a JSON object');
      }
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'reason') throw new HttpError(400, 'bad_request', 'close body takes only "reason"');
        if (typeof v !== 'string' || v.length > MAX_REASON_CHARS) {
          throw new HttpError(400, 'bad_request', `reason must be a string of at most ${MAX_REASON_CHARS} characters`);
        }
        reason = v;
      }
    }
    await store.close(queue, reason, Date.now());
    sendJson(res, 200, { closed: true });
  }

  /** `POST /v1/queues/:id/push`: the queue's reader registers (or removes) its push subscription (§3.9). */
  async function postPush(req: IncomingMessage, res: ServerResponse, queue: string, pathname: string): Promise<void> {
    const raw = await readJsonBytes(req);
    // The proof first, exactly as a read: nobody but the reader can point the queue's pushes elsewhere.
    await checkProof(req, 'POST', pathname, queue, raw);
    if (opts.push === undefined) throw new HttpError(503, 'push_off', 'this relay does not send push notifications');
    let reg;
    try {
      reg = parsePushRegistration(parseJson(raw));
    } catch (e) {
      throw new HttpError(400, 'bad_request', e instanceof Error ? e.message : 'bad push registration');
    }
    // Only a known push service: the relay must not be pointed at arbitrary hosts (SSRF).
    if (reg !== null && !isAllowedPushEndpoint(reg.endpoint, opts.push.allowedHosts ?? DEFAULT_PUSH_SERVICE_HOSTS)) {
      throw new HttpError(400, 'push_service_not_allowed', `this relay sends pushes only to known push services; ${new URL(reg.endpoint).host} is not one (the operator can add one with --push-service)`);
    }
    if (reg === null) {
      await opts.push.store.delete(queue);
      sendJson(res, 200, { push: false });
      return;
    }
    await opts.push.store.set(queue, { ...reg, registeredAt: Date.now() });
    sendJson(res, 200, { push: true });
  }

  async function route(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const method = req.method ?? '';
    if (method === 'OPTIONS') {
      // CORS preflight: not rate limited separately from the request it precedes.
      res.writeHead(204, { ...CORS_HEADERS, 'content-length': '0' });
      res.end();
      return;
    }
    rateCheck(req);
    if (closed) throw new HttpError(503, 'shutting_down', 'relay is shutting down');
    if (pathname === '/v1/health') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
      sendJson(res, 200, { ok: true, service: 'latch-relay', protocol: RELAY_PROTOCOL_VERSION, ...(opts.publicUrl ? { public_url: opts.publicUrl } : {}) });
      return;
    }
    if (pathname === '/v1/push') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
      if (opts.push === undefined) throw new HttpError(503, 'push_off', 'this relay does not send push notifications');
      sendJson(res, 200, { vapid_public_key: opts.push.sender.publicKey });
      return;
    }
    if (pathname === '/v1/ws') {
      throw new HttpError(426, 'upgrade_required', 'use a WebSocket upgrade on /v1/ws', { upgrade: 'websocket' });
    }
    const parts = pathname.split('/'); // ['', 'v1', 'queues', id, action]
    if (parts.length !== 5 || parts[4] === '') throw new HttpError(404, 'not_found', 'no such route');
    const queue = parts[3]!;
    const action = parts[4]!;
    const allowed = action === 'messages' ? ['GET', 'POST'] : action === 'ack' || action === 'close' || action === 'push' ? ['POST'] : undefined;
    if (allowed === undefined) throw new HttpError(404, 'not_found', 'no such route');
    if (!allowed.includes(method)) throw methodNotAllowed(allowed.join(', '));
    if (!isQueueId(queue)) throw new HttpError(400, 'bad_queue_id', 'queue id must be 22 base64url characters');
    if (action === 'messages') {
      if (method === 'POST') await postMessage(req, res, queue);
      else await getMessages(req, res, queue, pathname);
    } else if (action === 'ack') {
      await postAck(req, res, queue, pathname);
    } else if (action === 'push') {
      await postPush(req, res, queue, pathname);
    } else {
      await postClose(req, res, queue, pathname);
    }
  }

  function methodNotAllowed(allow: string): HttpError {
    return new HttpError(405, 'method_not_allowed', `use ${allow}`, { allow });
  }

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const pathname = pathnameOf(req.url);
    if (pathname === undefined || !isRelayPath(pathname)) return false;
    route(req, res, pathname).then(
      () => {
        // Discard anything the handler did not read, so keep-alive stays in sync.
        if (!req.complete) drain(req, res);
      },
      (e: unknown) => {
        if (e instanceof HttpError) {
          sendError(res, e.status, e.code, e.message, e.headers);
        } else {
          log(`internal error on ${req.method} ${pathname}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
          sendError(res, 500, 'internal', 'internal relay error');
        }
        if (!req.complete) drain(req, res);
      },
    );
    return true;
  }

  /** Read and discard the rest of a rejected body (bounded), then close if it is still too long. */
  function drain(req: IncomingMessage, res: ServerResponse): void {
    let seen = 0;
    res.shouldKeepAlive = false;
    req.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen > MAX_DRAIN_BYTES) req.socket.destroy();
    });
    req.on('error', () => {});
    req.resume();
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (pathnameOf(req.url) !== '/v1/ws') return false;
    if (closed) {
      socket.destroy();
      return true;
    }
    if (limiter !== undefined) {
      const d = limiter.take(clientAddress(req), Date.now());
      if (!d.ok) {
        const body = JSON.stringify({ error: { code: 'rate_limited', message: 'too many requests; slow down' } });
        socket.end(
          `HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${d.retryAfterSeconds}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return true;
      }
    }
    hub.handleUpgrade(req, socket, head);
    return true;
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    clearInterval(sweepTimer);
    for (const release of [...closing]) release();
    await hub.close();
    opts.push?.sender.close();
    await store.close();
    await opts.push?.store.close();
  }

  async function deliver(queue: string, body: Uint8Array): Promise<{ id: string }> {
    if (closed) throw new LatchError('relay_closed', 'the relay is shutting down');
    if (body.length === 0 || body.length > maxMessageBytes) throw new LatchError('message_too_large', `messages are 1 to ${maxMessageBytes} bytes`);
    const put = await putMessage(queue, body);
    if (!put.ok) throw new LatchError('queue_closed', 'this queue has been closed');
    return { id: put.id };
  }

  return { handle, handleUpgrade, deliver, close };
}
