/**
 * A STAND-IN for Mozilla's push service (autopush), on loopback: the only fake in the Web Push
 * tests (issue 14), because the real push services (Mozilla's, Google's FCM, Apple's, WNS) are
 * unreachable here. Two sides, as the real service has:
 *
 * - Browser side: a `ws` server speaking autopush's WebSocket protocol as Firefox's
 *   dom/push/PushServiceWebSocket.sys.mjs uses it: `hello` (uaid kept when the browser names one
 *   it was given, else a new one; `use_webpush`), `register` (a channel and its push endpoint,
 *   with the app server key), `unregister`, `notification` (channelID, version, base64url
 *   data, headers.encoding "aes128gcm"), `ack`, and `{}` pings. Firefox points at it through
 *   `dom.push.serverURL`.
 * - App-server side: an HTTPS endpoint (throwaway certificate from test-tls.ts) taking RFC 8030
 *   POSTs. It checks what a real service checks: the RFC 8292 `vapid t=JWT, k=KEY` header (ES256
 *   JWT verified with k, `aud` the endpoint's origin, `exp` within 24 h, a `sub`), that k is the
 *   key the channel was registered with (else 403), a `TTL` header (else 400), `Content-Encoding:
 *   aes128gcm` (else 415), at most 4096 bytes (else 413); an unknown channel is 404, one the test
 *   marked gone is 410. Accepted messages (201) are delivered at once to a connected browser or
 *   kept until it connects (within their TTL), one per Topic.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { importJWK, jwtVerify } from 'jose';
import { issueTestCert, makeTestCa, type TestCa } from './test-tls.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Channel {
  uaid: string;
  channelID: string;
  /** The app server key the browser subscribed with (65 bytes). */
  key: Buffer;
  gone: boolean;
}

interface Pending {
  channelID: string;
  version: string;
  data: string;
  topic: string | undefined;
  expiresAt: number;
}

/** One POST the app-server side answered. */
export interface PushPost {
  channelID: string | undefined;
  status: number;
  /** Why it was refused, for a 4xx. */
  reason?: string;
  ttl?: number;
  urgency?: string;
  topic?: string;
}

export interface PushServiceStandIn {
  /** ws://127.0.0.1:PORT/ for `dom.push.serverURL`. */
  wsUrl: string;
  /** The CA that signed the HTTPS side's certificate (NODE_EXTRA_CA_CERTS for `latch server`). */
  caFile: string;
  /** `127.0.0.1:PORT` of the endpoints, for `latch server --push-service` (not a public push service). */
  endpointHost: string;
  posts: PushPost[];
  /** The browser's acks: code 100 delivered, 101 could not decrypt, 102 not delivered. */
  acks: { version: string; code: number }[];
  /** Channels registered now. */
  channels(): Channel[];
  /**
   * Answer the next valid POST with `status` (429 with Retry-After, 413, as a real service does
   * under load or for a payload it will not take) instead of delivering it.
   */
  failNext(status: number, headers?: Record<string, string>): void;
  /** Answer 410 Gone for this endpoint from now on. */
  markGone(endpoint: string): void;
  /** Resolves with the first answered POST matching `pred` (now or later). */
  waitForPost(pred: (p: PushPost) => boolean): Promise<PushPost>;
  /** Resolves once a browser is connected and past `hello`. */
  waitForBrowser(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 4096;

export async function startPushServiceStandIn(): Promise<PushServiceStandIn> {
  // Not latch-process.ts's tempDir: bench/push-bench.ts uses the stand-in outside node:test.
  const dir = mkdtempSync(join(tmpdir(), 'latch-push-standin-'));
  const ca: TestCa = makeTestCa(dir);
  const cert = issueTestCert(ca, 'push', ['127.0.0.1', 'localhost']);
  const channels = new Map<string, Channel>();
  const pending = new Map<string, Pending[]>(); // by uaid
  const sockets = new Map<string, WebSocket>(); // by uaid, past hello
  const posts: PushPost[] = [];
  const postWaiters: { pred: (p: PushPost) => boolean; resolve: (p: PushPost) => void }[] = [];
  const browserWaiters: (() => void)[] = [];
  let version = 0;
  let forced: { status: number; headers: Record<string, string> } | undefined;
  const acks: { version: string; code: number }[] = [];

  const record = (p: PushPost): void => {
    posts.push(p);
    for (const w of [...postWaiters]) {
      if (w.pred(p)) {
        postWaiters.splice(postWaiters.indexOf(w), 1);
        w.resolve(p);
      }
    }
  };

  const flush = (uaid: string): void => {
    const ws = sockets.get(uaid);
    const list = pending.get(uaid);
    if (!ws || !list) return;
    const now = Date.now();
    for (const m of list) {
      if (m.expiresAt < now) continue;
      ws.send(JSON.stringify({ messageType: 'notification', channelID: m.channelID, version: m.version, data: m.data, headers: { encoding: 'aes128gcm' } }));
    }
  };

  // ---- browser side (autopush WebSocket protocol) ----
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => (protocols.has('push-notification') ? 'push-notification' : false) });
  wss.on('connection', (ws) => {
    let uaid: string | undefined;
    ws.on('message', (raw) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(String(raw)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (m.messageType === undefined) {
        ws.send('{}'); // ping -> pong
        return;
      }
      switch (m.messageType) {
        case 'hello': {
          // A browser that names its uaid keeps it (and its registrations); else a new one.
          uaid = typeof m.uaid === 'string' && m.uaid !== '' ? m.uaid : randomUUID().replace(/-/g, '');
          sockets.set(uaid, ws);
          ws.send(JSON.stringify({ messageType: 'hello', status: 200, uaid, use_webpush: true, broadcasts: {} }));
          flush(uaid);
          for (const w of browserWaiters.splice(0)) w();
          return;
        }
        case 'register': {
          if (uaid === undefined || typeof m.channelID !== 'string') return;
          const key = typeof m.key === 'string' ? Buffer.from(m.key.replace(/=+$/, ''), 'base64url') : Buffer.alloc(0);
          channels.set(m.channelID, { uaid, channelID: m.channelID, key, gone: false });
          ws.send(JSON.stringify({ messageType: 'register', channelID: m.channelID, status: 200, pushEndpoint: `${httpsOrigin}/wpush/v2/${m.channelID}` }));
          return;
        }
        case 'unregister': {
          if (typeof m.channelID !== 'string') return;
          channels.delete(m.channelID);
          ws.send(JSON.stringify({ messageType: 'unregister', channelID: m.channelID, status: 200 }));
          return;
        }
        case 'ack': {
          if (uaid === undefined || !Array.isArray(m.updates)) return;
          const acked = new Set((m.updates as { version?: unknown }[]).map((u) => u.version));
          for (const u of m.updates as { version?: unknown; code?: unknown }[]) acks.push({ version: String(u.version), code: Number(u.code) });
          pending.set(uaid, (pending.get(uaid) ?? []).filter((p) => !acked.has(p.version)));
          return;
        }
        default:
          return; // nack, broadcast_subscribe: nothing to do for a stand-in
      }
    });
    ws.on('close', () => {
      if (uaid !== undefined && sockets.get(uaid) === ws) sockets.delete(uaid);
    });
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;

  // ---- app-server side (RFC 8030 + RFC 8292) ----
  async function checkVapid(req: IncomingMessage, ch: Channel): Promise<{ status: number; reason: string } | undefined> {
    const m = /^vapid t=([A-Za-z0-9_.-]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
    if (!m) return { status: 401, reason: 'no vapid authorization' };
    const k = Buffer.from(m[2]!, 'base64url');
    // RFC 8292 §4.2: a key other than the one the subscription was made with is 403.
    if (!k.equals(ch.key)) return { status: 403, reason: 'vapid key does not match the subscription' };
    if (k.length !== 65 || k[0] !== 4) return { status: 401, reason: 'vapid key is not an uncompressed P-256 point' };
    try {
      const jwk = { kty: 'EC', crv: 'P-256', x: k.subarray(1, 33).toString('base64url'), y: k.subarray(33).toString('base64url') };
      const { payload } = await jwtVerify(m[1]!, await importJWK(jwk, 'ES256'), { audience: httpsOrigin, algorithms: ['ES256'] });
      if (typeof payload.exp !== 'number' || payload.exp > Date.now() / 1000 + 24 * 3600) return { status: 401, reason: 'vapid exp missing or over 24 h' };
      if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) return { status: 401, reason: 'vapid sub missing' };
    } catch (e) {
      return { status: 401, reason: `vapid JWT: ${(e as Error).message}` };
    }
    return undefined;
  }

  async function onPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (p: PushPost, headers: Record<string, string> = {}): void => {
      res.writeHead(p.status, headers);
      res.end(p.reason ?? '');
      record(p);
    };
    const mm = /^\/wpush\/v2\/([0-9a-f-]{36})$/.exec(req.url ?? '');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || !mm) return answer({ channelID: undefined, status: 404, reason: 'no such endpoint' });
    const channelID = mm[1]!;
    const ch = channels.get(channelID);
    if (!ch) return answer({ channelID, status: 404, reason: 'no such subscription' });
    if (ch.gone) return answer({ channelID, status: 410, reason: 'subscription expired' });
    const ttlText = req.headers.ttl;
    const base = { channelID, ...(req.headers.urgency ? { urgency: String(req.headers.urgency) } : {}), ...(req.headers.topic ? { topic: String(req.headers.topic) } : {}) };
    if (typeof ttlText !== 'string' || !/^[0-9]+$/.test(ttlText)) return answer({ ...base, status: 400, reason: 'TTL header required (RFC 8030 §5.2)' });
    const ttl = Number(ttlText);
    const vapid = await checkVapid(req, ch);
    if (vapid) return answer({ ...base, ttl, ...vapid });
    if (body.length > MAX_BODY) return answer({ ...base, ttl, status: 413, reason: 'payload over 4096 bytes' });
    if (body.length > 0 && req.headers['content-encoding'] !== 'aes128gcm') return answer({ ...base, ttl, status: 415, reason: 'Content-Encoding must be aes128gcm (RFC 8291)' });
    if (forced) {
      const f = forced;
      forced = undefined;
      return answer({ ...base, ttl, status: f.status, reason: `forced ${f.status}` }, f.headers);
    }
    const v = String(++version);
    const topic = base.topic;
    const list = (pending.get(ch.uaid) ?? []).filter((p) => topic === undefined || p.channelID !== channelID || p.topic !== topic);
    list.push({ channelID, version: v, data: body.toString('base64url'), topic, expiresAt: Date.now() + ttl * 1000 });
    pending.set(ch.uaid, list);
    flush(ch.uaid);
    answer({ ...base, ttl, status: 201 }, { location: `${httpsOrigin}/m/${v}`, ttl: String(ttl) });
  }

  const https: HttpsServer = createHttpsServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, (req, res) => {
    onPost(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  const httpsOrigin = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;

  return {
    wsUrl,
    caFile: ca.certFile,
    endpointHost: new URL(httpsOrigin).host,
    posts,
    acks,
    channels: () => [...channels.values()],
    failNext(status, headers = {}) {
      forced = { status, headers };
    },
    markGone(endpoint) {
      const id = endpoint.split('/').pop()!;
      const ch = channels.get(id);
      if (ch) ch.gone = true;
    },
    waitForPost(pred) {
      const hit = posts.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => postWaiters.push({ pred, resolve }));
    },
    waitForBrowser() {
      if (sockets.size > 0) return Promise.resolve();
      return new Promise((resolve) => browserWaiters.push(resolve));
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      https.closeAllConnections();
      await new Promise<void>((r) => https.close(() => r()));
    },
  };
}
