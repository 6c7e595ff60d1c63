/**
 * Serves the built web authenticator (dist/web, made by web/build.mjs) at /app/ on the
 * `latch server` port. Static files only: GET and HEAD, a fixed table of content types, no
 * directory listings, and nothing outside the root (.., encoded slashes, NUL and dot-files refused).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatchError } from '../util/latch-error.js';

export const WEB_APP_PREFIX = '/app/';

/** dist/web beside dist/src (this file is dist/src/server/web-app-static.js once built). */
export const DEFAULT_WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/**
 * The page's CSP. 'wasm-unsafe-eval': libsodium.js and zxing-wasm instantiate WebAssembly.
 * connect-src: the page's own origin, plus the relays it is told of (`relays`: origins, as
 * `latch app serve --relay` gives them). Without any (and always for `latch server`), any http(s)
 * and ws(s) origin is allowed, since a pairing link may name a relay on any origin and the server
 * cannot know which the user will pair with (docs/WEB.md "Who the page trusts").
 */
export function webAppCsp(relays?: readonly string[]): string {
  const connect = relays === undefined ? "'self' http: https: ws: wss:" : ["'self'", ...relays.flatMap(relayOrigins)].join(' ');
  return `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src ${connect}; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'`;
}

/** A relay URL's origin for CSP, with its WebSocket twin (ws: for http:, wss: for https:). */
export function relayOrigins(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LatchError('bad_relay_url', `not a relay URL: "${url.slice(0, 80)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LatchError('bad_relay_url', `a relay URL is http: or https:, got "${u.protocol}"`);
  return [u.origin, `${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}`];
}

export interface WebAppStatic {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

function send(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export function createWebAppStatic(opts: { root?: string; relays?: readonly string[] } = {}): WebAppStatic {
  const rootOpt = resolve(opts.root ?? DEFAULT_WEB_ROOT);
  const csp = webAppCsp(opts.relays);
  return {
    handle(req, res) {
      const rawPath = (req.url ?? '/').split('?')[0]!;
      if (rawPath === '/app') {
        send(res, 308, 'moved to /app/', { Location: WEB_APP_PREFIX });
        return true;
      }
      if (!rawPath.startsWith(WEB_APP_PREFIX)) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
        return true;
      }
      let rel: string;
      try {
        rel = decodeURIComponent(rawPath.slice(WEB_APP_PREFIX.length));
      } catch {
        send(res, 400, 'bad path');
        return true;
      }
      if (rel === '') rel = 'index.html';
      const segments = rel.split('/');
      if (rel.includes('\0') || rel.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) {
        send(res, 404, 'not found');
        return true;
      }
      let root: string;
      let file: string;
      try {
        root = realpathSync(rootOpt);
        file = realpathSync(join(root, ...segments));
      } catch {
        send(res, 404, rootExists(rootOpt) ? 'not found' : 'web app not built (run npm run build)');
        return true;
      }
      const type = TYPES[extname(file).toLowerCase()];
      const st = statSync(file, { throwIfNoEntry: false });
      // Only regular files inside the root with a known type: no directory listing, no symlink escape.
      if (!file.startsWith(root + sep) || !st?.isFile() || type === undefined) {
        send(res, 404, 'not found');
        return true;
      }
      const headers: Record<string, string | number> = {
        'Content-Type': type,
        'Content-Length': st.size,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        // The shell must revalidate so an update reaches users; the service worker handles offline.
        'Cache-Control': 'no-cache',
      };
      if (type.startsWith('text/html')) headers['Content-Security-Policy'] = csp;
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        res.end();
        return true;
      }
      const stream = createReadStream(file);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
      return true;
    },
  };
}

function rootExists(root: string): boolean {
  return statSync(root, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
