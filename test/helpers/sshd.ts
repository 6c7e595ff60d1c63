/**
 * Test helper: a private sshd (Debian's /usr/sbin/sshd) on 127.0.0.1 and a free port,
 * with its own host key, config and authorized_keys in a temp dir. Leaves ~/.ssh alone;
 * clients must use sshArgs() (own known_hosts file, -F /dev/null).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestSshd {
  port: number;
  hostKeyPath: string;
  hostPublicKey: string;
  /** The host certificate line (`ssh-ed25519-cert-v01@openssh.com AAAA...`), when asked for. */
  hostCertificate?: string;
  dir: string;
  stop(): Promise<void>;
}

export interface HostCertificateOptions {
  /** Private key file of the CA (ssh-keygen -s). */
  caKeyPath: string;
  principals: string[];
}

export async function startSshd(opts: { authorizedKeys: string[]; hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa'; hostCertificate?: HostCertificateOptions }): Promise<TestSshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-sshd-'));
  const type = opts.hostKeyType ?? 'ed25519';
  const hostKeyPath = path.join(dir, `host_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', 'latch-test-host', '-f', hostKeyPath]);
  const hostPublicKey = fs.readFileSync(hostKeyPath + '.pub', 'utf8').trim();
  let hostCertificate: string | undefined;
  if (opts.hostCertificate) {
    // A real host certificate, as an admin makes one: ssh-keygen -s CA -h -I ID -n PRINCIPALS HOST.pub
    execFileSync('ssh-keygen', ['-q', '-s', opts.hostCertificate.caKeyPath, '-h', '-I', 'latch-test-host', '-n', opts.hostCertificate.principals.join(','), hostKeyPath + '.pub']);
    hostCertificate = fs.readFileSync(hostKeyPath + '-cert.pub', 'utf8').trim();
  }
  const authorizedKeysPath = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeysPath, opts.authorizedKeys.join('\n') + '\n', { mode: 0o600 });
  // sshd insists on its privilege-separation directory.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const user = os.userInfo().username;
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyPath}`,
    ...(hostCertificate ? [`HostCertificate ${hostKeyPath}-cert.pub`] : []),
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeysPath}`,
    'StrictModes no',
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${user}`,
    'LogLevel VERBOSE',
    '',
  ].join('\n');
  const configPath = path.join(dir, 'sshd_config');
  fs.writeFileSync(configPath, config);
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // Ready when the port accepts connections.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.createConnection(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200) throw new Error(`sshd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    hostKeyPath,
    hostPublicKey,
    hostCertificate,
    dir,
    stop: async () => {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Client args that keep ~/.ssh untouched: no config, own known_hosts in `dir`, only the
 * agent at `socket`. ssh keeps the first value of each option, so callers may append more.
 */
export function sshArgs(port: number, socket: string, knownHostsDir = path.dirname(socket)): string[] {
  return [
    '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${path.join(knownHostsDir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `IdentityAgent=${socket}`,
    '-o', 'PasswordAuthentication=no',
    '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=10',
    '-p', String(port),
  ];
}
