/**
 * Host name hints (docs/AGENT.md "Host names"): ssh never tells an agent which host the
 * user typed, so `latch ssh setup` adds a KnownHostsCommand that runs
 * `latch agent hint ... %r %h %p %K` as ssh checks the host key. The hint names the host
 * key, so the agent attaches it to the sign request whose verified session-bind carries
 * that same key: no guessing by timing. The control socket speaks one JSON line per
 * connection: {"user":..,"host":..,"port":..,"host_key":"<base64 blob>"} -> "ok\n".
 */
import fs from 'node:fs';
import net from 'node:net';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64url.js';
export { hintSocketFor } from './host-hint-client.js';
import { parseHostKey } from '../protocol/ssh/ssh-certificate.js';
import { PeerGuard, type PeerCredentialSource } from './peer-guard.js';

export interface HostHint {
  user: string;
  host: string;
  port: number;
  hostKeyBlob: Uint8Array;
}

const MAX_LINE = 8192;
const HINT_TTL_MS = 10 * 60 * 1000;
const MAX_HINTS = 512;

/** Parse one hint line (strict: exactly these fields, a valid host key blob). */
export function parseHostHint(line: string): HostHint {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    throw new LatchError('bad_hint', 'hint is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new LatchError('bad_hint', 'hint must be an object');
  const r = o as Record<string, unknown>;
  const keys = Object.keys(r).sort().join(',');
  if (keys !== 'host,host_key,port,user') throw new LatchError('bad_hint', 'hint must have exactly user, host, port, host_key');
  const { user, host, port, host_key } = r;
  if (typeof user !== 'string' || !/^[^\s\x00-\x1f]{1,64}$/.test(user)) throw new LatchError('bad_hint', 'bad user');
  if (typeof host !== 'string' || !/^[A-Za-z0-9._:%\[\]-]{1,255}$/.test(host)) throw new LatchError('bad_hint', 'bad host');
  if (typeof port !== 'number' || !Number.isSafeInteger(port) || port < 1 || port > 65535) throw new LatchError('bad_hint', 'bad port');
  if (typeof host_key !== 'string' || host_key.length > 4096) throw new LatchError('bad_hint', 'bad host_key');
  const hostKeyBlob = decodeBase64(host_key, 'host_key');
  parseHostKey(hostKeyBlob); // plain or certificate (a host with a HostCertificate)
  return { user, host, port, hostKeyBlob };
}

export function encodeHostHint(h: HostHint): string {
  return JSON.stringify({ user: h.user, host: h.host, port: h.port, host_key: encodeBase64(h.hostKeyBlob) });
}

/**
 * Hints are filed under the key that signs for the host: for a host certificate the certified
 * key, so a hint about the certificate and a bind with it (or ssh's fallback to the plain key)
 * meet.
 */
function hintKey(hostKeyBlob: Uint8Array): string {
  try {
    return encodeBase64(parseHostKey(hostKeyBlob).keyBlob);
  } catch {
    return encodeBase64(hostKeyBlob);
  }
}

export class HostHints {
  readonly #byKey = new Map<string, HostHint & { at: number }>();

  add(h: HostHint): void {
    const k = hintKey(h.hostKeyBlob);
    this.#byKey.delete(k);
    this.#byKey.set(k, { ...h, at: Date.now() });
    while (this.#byKey.size > MAX_HINTS) this.#byKey.delete(this.#byKey.keys().next().value!);
  }

  /** The newest live hint for this host key. */
  lookup(hostKeyBlob: Uint8Array): HostHint | undefined {
    const h = this.#byKey.get(hintKey(hostKeyBlob));
    if (!h || Date.now() - h.at > HINT_TTL_MS) return undefined;
    return h;
  }
}

/**
 * Serve the hint control socket (mode 0600, beside the agent socket). Guarded as the agent socket
 * is (peer-guard.ts, docs/AGENT.md "Who may connect"): a hint names what the authenticator shows
 * and pins, so another user must not plant one, even through a socket whose mode was loosened.
 */
export async function startHintServer(
  socketPath: string,
  hints: HostHints,
  log: (l: string) => void,
  opts: { peerCredentials?: PeerCredentialSource } = {},
): Promise<{ close(): Promise<void> }> {
  try {
    fs.unlinkSync(socketPath);
  } catch {
    /* none */
  }
  // quiet: the agent socket's guard has already said which check is in force.
  const guard = await PeerGuard.create(socketPath, log, { source: opts.peerCredentials, what: 'a host hint', quiet: true });
  // pauseOnConnect: nothing is read before the peer is checked.
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    sock.on('error', () => sock.destroy());
    void guard.admit(sock).then((ok) => {
      if (!ok) sock.destroy();
      if (sock.destroyed) return;
      serveHint(sock, hints, log);
      sock.resume();
    });
  });
  // As the agent socket: created under umask 0177, so never connectable by others, even before the chmod.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(previousUmask);
  }
  fs.chmodSync(socketPath, 0o600);
  guard.created(fs.lstatSync(socketPath));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          fs.unlinkSync(socketPath);
        } catch {
          /* gone */
        }
      }),
  };
}

/** One JSON line in, "ok" or "error" out. */
function serveHint(sock: net.Socket, hints: HostHints, log: (l: string) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.setTimeout(5000, () => sock.destroy());
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE) {
      sock.destroy();
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    try {
      const h = parseHostHint(buf.slice(0, nl));
      hints.add(h);
      sock.end('ok\n');
    } catch {
      log('refused a malformed host hint');
      sock.end('error\n');
    }
  });
}
