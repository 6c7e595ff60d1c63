/**
 * The sending side of the host name hint (docs/AGENT.md "Host names"): what the
 * KnownHostsCommand written by `latch ssh setup` runs for every ssh connection. It has to be
 * cheap, so it imports nothing but node:net and passes the host key on as ssh gave it (base64);
 * the agent parses and checks it (host-hints.ts parseHostHint).
 */
import net from 'node:net';

/** What ssh passes for %K when it asks known_hosts before it has a host key (OpenSSH 8.5+). */
export const NO_HOST_KEY = 'NONE';

export function hintSocketFor(agentSocket: string): string {
  return `${agentSocket}.hint`;
}

/** Send one hint line; never throws (ssh must not fail because the agent is not running). */
export function sendHostHint(socketPath: string, h: { user: string; host: string; port: number; hostKeyBase64: string }): Promise<boolean> {
  const line = JSON.stringify({ user: h.user, host: h.host, port: h.port, host_key: h.hostKeyBase64 }) + '\n';
  return new Promise((resolve) => {
    const c = net.createConnection(socketPath);
    let out = '';
    const t = setTimeout(() => (c.destroy(), resolve(false)), 3000);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(line));
    c.on('data', (d: string) => (out += d));
    c.on('close', () => (clearTimeout(t), resolve(out === 'ok\n')));
    c.on('error', () => (clearTimeout(t), resolve(false)));
  });
}
