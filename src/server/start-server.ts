/**
 * `latch server`: one node:http server on one port. Today it carries the relay;
 * custody will be composed in the same way (each service's handle() claims its paths).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRelay, sendError } from '../relay/relay-http.js';
import type { RateLimit } from '../relay/rate-limiter.js';
import { openCustody, type CustodyServerOptions } from '../custody/open-custody.js';
import { createWebAppStatic } from './web-app-static.js';
import { resolveClientAddress } from '../util/client-address.js';

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
}

export interface RunningServer {
  /** http://HOST:PORT with the real port (also when port 0 was asked for). */
  url: string;
  close(): Promise<void>;
}

/** Node's default for the request line plus headers; larger gets 431. */
const MAX_HEADER_BYTES = 16 * 1024;

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const log = opts.log ?? (() => {});
  const relayOpts: Parameters<typeof createRelay>[0] = { dataDir: opts.dataDir, log };
  if (opts.ttlSeconds !== undefined) relayOpts.ttlSeconds = opts.ttlSeconds;
  if (opts.maxMessageBytes !== undefined) relayOpts.maxMessageBytes = opts.maxMessageBytes;
  if (opts.rateLimit !== undefined) relayOpts.rateLimit = opts.rateLimit;
  const relay = createRelay(relayOpts);
  let publicUrl = '';
  const custody = opts.custody === false ? undefined : await openCustody({ ...(opts.custody ?? {}), dataDir: opts.dataDir, log, publicUrl: () => publicUrl, deliverLocal: (q, body) => relay.deliver(q, body) });

  const webApp = createWebAppStatic(); // the web authenticator at /app/ (issue 5)
  const trusted = opts.trustedProxies ?? new Set<string>();
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req: IncomingMessage, res: ServerResponse) => {
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
  const url = `http://${host}:${addr.port}`;
  publicUrl = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
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
