/**
 * Which client sent a request: the address rate limits, connection caps, logs and the custody
 * audit key on. Behind a reverse proxy every request comes from the proxy's address, so one
 * client could exhaust everyone's budget; `latch server --trusted-proxy ADDR` names the proxies
 * whose X-Forwarded-For may be believed. The walk is the usual one (nginx real_ip_recursive,
 * proxy-addr): from the right, skip trusted hops; the first untrusted address is the client. A
 * header from an untrusted peer is ignored, so a client cannot choose its own bucket.
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

const resolved = new WeakMap<IncomingMessage, string>();

/** IPv4-mapped IPv6 ("::ffff:127.0.0.1") and IPv4 name one client. */
export function normalizeAddress(a: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  return (m ? m[1]! : a).toLowerCase();
}

/** Parses --trusted-proxy values; throws TypeError on anything but a literal IP address. */
export function parseTrustedProxies(values: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    if (isIP(v) === 0) throw new TypeError(`not an IP address: "${v}"`);
    out.add(normalizeAddress(v));
  }
  return out;
}

/** The client's address for a request whose TCP peer is `peer`. */
export function clientAddressFrom(peer: string, forwardedFor: string | string[] | undefined, trusted: ReadonlySet<string>): string {
  let client = normalizeAddress(peer);
  if (!trusted.has(client) || forwardedFor === undefined) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((s) => s.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // Anything that is not an address was written by the untrusted side: stop at the last good hop.
    if (isIP(hop) === 0) break;
    client = normalizeAddress(hop);
    if (!trusted.has(client)) break;
  }
  return client;
}

/** Called once per request (and upgrade) by the server, before any handler runs. */
export function resolveClientAddress(req: IncomingMessage, trusted: ReadonlySet<string>): void {
  resolved.set(req, clientAddressFrom(req.socket.remoteAddress ?? 'unknown', req.headers['x-forwarded-for'], trusted));
}

/** The address handlers use; the TCP peer where the server did not resolve one (unit setups). */
export function clientAddress(req: IncomingMessage): string {
  return resolved.get(req) ?? normalizeAddress(req.socket.remoteAddress ?? 'unknown');
}
