/**
 * `latch server`: one HTTP server on one port carrying the relay, custody and the web app
 * (each service's handle() claims its paths). Plain HTTP behind a reverse proxy, or HTTPS
 * itself (`tls`), whose certificate can be swapped while it runs (reloadTls, on SIGHUP).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createRelay, sendError, DEFAULT_TTL_SECONDS } from '../relay/relay-http.js';
import type { RateLimit } from '../relay/rate-limiter.js';
import { openCustody, type CustodyServerOptions } from '../custody/open-custody.js';
import { createWebAppStatic } from './web-app-static.js';
import { resolveClientAddress } from '../util/client-address.js';
import { LogThrottle } from '../relay/log-throttle.js';
import { LatchError } from '../util/latch-error.js';
import { loadTlsFiles, type LoadedTls, type TlsFiles } from './tls-files.js';
import { JetStreamRelayStore } from '../relay/jetstream-relay-store.js';
import { loadOrCreateVapidKeys } from '../relay/vapid-keys.js';
import { PushSender } from '../relay/push-sender.js';
import { DEFAULT_PUSH_SERVICE_HOSTS } from '../relay/push-service-hosts.js';
import { SqlitePushSubscriptionStore } from '../relay/sqlite-push-subscription-store.js';
import { TIMEOUT_SIGN_SECONDS } from '../protocol/protocol-constants.js';

/**
 * VAPID `sub` (RFC 8292 §2.1) when the server listens on loopback only and none was given: a
 * push service uses it to reach the operator, and nobody can reach a loopback demo anyway.
 */
export const LOOPBACK_VAPID_SUBJECT = 'mailto:latch@localhost';

/** Loopback listen addresses: push is on there without --vapid-subject (docs/WEB.md "Push"). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

export interface StartServerOptions {
  host: string;
  port: number;
  dataDir: string;
  ttlSeconds?: number;
  maxMessageBytes?: number;
  rateLimit?: RateLimit | false;
  log?: (line: string) => void;
  /** Reverse proxies whose X-Forwarded-For is believed (client-address.ts). */
  trustedProxies?: ReadonlySet<string>;
  /** Custody (issue 4) on the same port; on by default, `false` turns it off. */
  custody?: CustodyServerOptions | false;
  /** Serve HTTPS (and WSS) with this certificate and key instead of plain HTTP. */
  tls?: TlsFiles;
  /**
   * The URL authenticators reach this server at (`--public-url`), when that is not the
   * listening address: behind a proxy, or a public name. Pairing links and custody notices carry it.
   */
  publicUrl?: string;
  /**
   * Keep the relay's queues in NATS JetStream (`--relay-store nats://...`, issue 10) instead of
   * `<dataDir>/relay.sqlite`, so several servers can share them.
   */
  relayStore?: { nats: readonly string[]; replicas?: number; stream?: string; subjectPrefix?: string };
  /**
   * Web Push (issue 14): the VAPID subject (mailto: or https:). Without it push is on only when
   * the server listens on loopback (with LOOPBACK_VAPID_SUBJECT); `false` turns it off.
   */
  vapidSubject?: string | false;
  /** TTL of each push (RFC 8030 §5.2); default TIMEOUT_SIGN_SECONDS, how long a computer waits for the ack. */
  pushTtlSeconds?: number;
  /** Push services beyond the public ones (`--push-service HOST[:PORT]`), e.g. a self-hosted autopush. */
  pushServices?: readonly string[];
}

export interface RunningServer {
  /** http(s)://HOST:PORT with the real port (also when port 0 was asked for). */
  url: string;
  /** The URL authenticators are told: publicUrl when given, else url. */
  publicUrl: string;
  /** The certificate being served (undefined for plain HTTP). */
  tls: LoadedTls | undefined;
  /**
   * Reads the certificate and key files again and serves them to new connections (open ones
   * keep theirs). Throws a LatchError, and keeps the old pair, when the new files are not a pair.
   */
  reloadTls(): LoadedTls;
  close(): Promise<void>;
}

/** Failed TLS handshakes logged per client address and minute (then one "suppressed" line). */
const TLS_LOG_LINES_PER_MINUTE = 5;

/** Node's default for the request line plus headers; larger gets 431. */
const MAX_HEADER_BYTES = 16 * 1024;

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const log = opts.log ?? (() => {});
  const relayOpts: Parameters<typeof createRelay>[0] = { dataDir: opts.dataDir, log };
  if (opts.ttlSeconds !== undefined) relayOpts.ttlSeconds = opts.ttlSeconds;
  if (opts.maxMessageBytes !== undefined) relayOpts.maxMessageBytes = opts.maxMessageBytes;
  if (opts.rateLimit !== undefined) relayOpts.rateLimit = opts.rateLimit;
  if (opts.publicUrl !== undefined) relayOpts.publicUrl = opts.publicUrl;
  if (opts.relayStore !== undefined) {
    const rs = opts.relayStore;
    relayOpts.store = await JetStreamRelayStore.open({
      servers: rs.nats,
      ttlSeconds: opts.ttlSeconds ?? DEFAULT_TTL_SECONDS,
      log,
      ...(rs.replicas !== undefined ? { replicas: rs.replicas } : {}),
      ...(rs.stream !== undefined ? { stream: rs.stream } : {}),
      ...(rs.subjectPrefix !== undefined ? { subjectPrefix: rs.subjectPrefix } : {}),
    });
  }
  const subject = opts.vapidSubject === false ? undefined : opts.vapidSubject ?? (isLoopbackHost(opts.host) ? LOOPBACK_VAPID_SUBJECT : undefined);
  if (subject !== undefined) {
    const store = new SqlitePushSubscriptionStore({ dataDir: opts.dataDir });
    const allowedHosts = [...DEFAULT_PUSH_SERVICE_HOSTS, ...(opts.pushServices ?? [])];
    const sender = new PushSender({ keys: loadOrCreateVapidKeys(opts.dataDir), subject, store, log, ttlSeconds: opts.pushTtlSeconds ?? TIMEOUT_SIGN_SECONDS, allowedHosts });
    relayOpts.push = { sender, store, allowedHosts };
    log(`push notifications on (VAPID subject ${subject})`);
  } else if (opts.vapidSubject !== false) {
    log('push notifications off: a server that is not on loopback needs --vapid-subject mailto:...|https://...');
  }
  const relay = createRelay(relayOpts);
  let publicUrl = opts.publicUrl ?? '';
  const custody = opts.custody === false ? undefined : await openCustody({ ...(opts.custody ?? {}), dataDir: opts.dataDir, log, publicUrl: () => publicUrl, deliverLocal: (q, body) => relay.deliver(q, body) });

  const webApp = createWebAppStatic(); // the web authenticator at /app/ (issue 5)
  const trusted = opts.trustedProxies ?? new Set<string>();
  let tls = opts.tls ? loadTlsFiles(opts.tls) : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      resolveClientAddress(req, trusted);
      if (relay.handle(req, res)) return;
      if (webApp.handle(req, res)) return;
      if (custody?.handle(req, res)) return;
      sendError(res, 404, 'not_found', 'no such route');
    } catch (e) {
      log(`internal error: ${e instanceof Error ? e.message : String(e)}`);
      sendError(res, 500, 'internal', 'internal server error');
    }
  };
  const server = tls
    ? createHttpsServer({ maxHeaderSize: MAX_HEADER_BYTES, cert: tls.cert, key: tls.key }, handler)
    : createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
  // A TLS handshake that fails (a client that distrusts the certificate, a scanner) is that
  // client's problem: logged, throttled per address since anyone can provoke it, never thrown.
  const tlsLog = new LogThrottle(log, { perWindow: TLS_LOG_LINES_PER_MINUTE, windowMs: 60_000 });
  const tlsLogSweep = setInterval(() => tlsLog.sweep(Date.now()), 60_000).unref();
  server.on('tlsClientError', (err: Error, socket: Socket) => {
    const from = socket.remoteAddress ?? 'unknown';
    tlsLog.line(from, 'TLS handshake failures', `TLS handshake from ${from} failed: ${err.message}`, Date.now());
  });
  // Long-polls last up to 30 s; anything slower than this is a stuck client.
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    try {
      resolveClientAddress(req, trusted);
      if (relay.handleUpgrade(req, socket, head)) return;
    } catch (e) {
      log(`upgrade failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const body = JSON.stringify({ error: { code: 'not_found', message: 'no such route' } });
    socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

  // Unparseable requests (bad request line, oversized headers) never reach the handler;
  // answer them with the same JSON error shape and close just that connection.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET')) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const code = tooLarge ? 'headers_too_large' : 'bad_request';
    const message = tooLarge ? 'request headers are too large' : 'malformed HTTP request';
    const body = JSON.stringify({ error: { code, message } });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${addr.port}`;
  publicUrl ||= url;

  let closing: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    get tls() {
      return tls;
    },
    reloadTls() {
      if (!opts.tls || !('setSecureContext' in server)) throw new LatchError('tls_off', 'this server does not serve TLS');
      const next = loadTlsFiles(opts.tls);
      server.setSecureContext({ cert: next.cert, key: next.key });
      tls = next;
      return next;
    },
    close() {
      closing ??= (async () => {
        clearInterval(tlsLogSweep);
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        await relay.close(); // releases long-polls and WebSockets
        await custody?.close();
        server.closeAllConnections();
        await done;
      })();
      return closing;
    },
  };
}
