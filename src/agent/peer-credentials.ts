/**
 * Who is on the other end of an accepted unix socket connection (issue 12 item 3; docs/AGENT.md
 * "Who may connect"). OpenSSH's agent asks the kernel (getpeereid, SO_PEERCRED on Linux); Node
 * has no API for it. On Linux Latch asks through Debian's Essential `perl` (perl-base ships Socket
 * with SO_PEERCRED): the accepted socket is handed to a perl process as its fd 3 (Node duplicates
 * a stdio stream's fd into the child), and a fixed program, given with -e, checks that fd 3 is a
 * unix socket and prints the peer's `pid uid gid` from `struct ucred`.
 *
 * Two steps, so that a connection pays only for a bare perl start (no module loading):
 *  - once per process, `peerCredentialsSupport()` loads Socket and prints the platform's numbers
 *    for SOL_SOCKET, SO_PEERCRED, SO_DOMAIN and AF_UNIX (they differ between architectures), and
 *    says why peer credentials cannot be read when they cannot (not Linux, no perl, no SO_PEERCRED);
 *  - per connection, the fixed program gets those numbers as arguments and calls getsockopt.
 * The perl programs are constants; nothing from a peer ever reaches them, and perl runs with an
 * empty environment (no PERL5OPT, PERL5LIB).
 */
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { LatchError } from '../util/latch-error.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Debian's Essential perl-base installs it here; a PATH lookup would only add ways to get it wrong. */
export const PERL = '/usr/bin/perl';
/** A stuck perl must not hold a connection forever: the caller falls back to the socket permission guard. */
const PERL_TIMEOUT_MS = 10_000;
/**
 * At most this many perl processes at once; further connections wait their turn (unread). A burst
 * of connections, a local flood say, then costs a queue rather than hundreds of processes.
 */
const MAX_CONCURRENT = 8;

const PROBE = 'require Socket; print join(" ", map { my $f = Socket->can($_) or die "Socket has no $_\\n"; $f->() } qw(SOL_SOCKET SO_PEERCRED SO_DOMAIN AF_UNIX)), "\\n";';

/**
 * fd 3 is the accepted connection. SO_DOMAIN tells a unix socket from any other socket; struct
 * ucred is { pid_t pid; uid_t uid; gid_t gid; }, three 32-bit integers on every Linux architecture.
 */
const READ_CREDENTIALS = [
  'my ($sol, $cred, $dom, $unix) = @ARGV;',
  'open(my $s, "+<&=", 3) or die "fd 3: $!\\n";',
  '-S $s or die "fd 3 is not a socket\\n";',
  'my $d = getsockopt($s, $sol, $dom) or die "SO_DOMAIN: $!\\n";',
  'unpack("i", $d) == $unix or die "fd 3 is not a unix socket\\n";',
  'my $c = getsockopt($s, $sol, $cred) or die "SO_PEERCRED: $!\\n";',
  'length($c) == 12 or die "SO_PEERCRED: unexpected length\\n";',
  'printf "%d %u %u\\n", unpack("i I I", $c);',
].join(' ');

interface Numbers {
  args: string[];
}

function runPerl(program: string, args: string[], fd3?: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(PERL, ['-e', program, ...args], { stdio: ['ignore', 'pipe', 'pipe', ...(fd3 ? [fd3] : [])], env: {} });
    } catch (e) {
      reject(new LatchError('peer_credentials_unavailable', `cannot run ${PERL}: ${(e as Error).message}`));
      return;
    }
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(0, 256)));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(0, 512)));
    const timer = setTimeout(() => child.kill('SIGKILL'), PERL_TIMEOUT_MS);
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new LatchError('peer_credentials_unavailable', e.code === 'ENOENT' ? `${PERL} is not installed` : `cannot run ${PERL}: ${e.code ?? e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else {
        const why = err.trim().split('\n')[0] || (signal ? `killed by ${signal}` : `exit ${code}`);
        reject(new LatchError('peer_credentials_unavailable', `${PERL}: ${why}`));
      }
    });
  });
}

let support: Promise<Numbers> | undefined;
let running = 0;
const waiting: (() => void)[] = [];

async function withSlot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((r) => waiting.push(r));
  else running++;
  try {
    return await f();
  } finally {
    // Hand the slot straight to the next waiter, or give it back.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

async function probe(): Promise<Numbers> {
  if (process.platform !== 'linux') throw new LatchError('peer_credentials_unavailable', `SO_PEERCRED is read on Linux only (this is ${process.platform})`);
  const out = await runPerl(PROBE, []);
  const m = /^(\d+) (\d+) (\d+) (\d+)\n$/.exec(out);
  if (!m) throw new LatchError('peer_credentials_unavailable', `${PERL} printed no socket constants`);
  return { args: m.slice(1, 5) };
}

/** Once per process: whether peer credentials can be read here, and if not, why (LatchError `peer_credentials_unavailable`). */
export async function peerCredentialsSupport(): Promise<{ available: true } | { available: false; reason: string }> {
  support ??= probe();
  try {
    await support;
    return { available: true };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/**
 * The peer of an accepted unix socket connection, read from the kernel (SO_PEERCRED), or a
 * LatchError `peer_credentials_unavailable` saying why not. Read it before reading anything from
 * the socket: the credentials are the peer's at connect(2) time.
 */
export async function readPeerCredentials(socket: net.Socket): Promise<PeerCredentials> {
  support ??= probe();
  const { args } = await support;
  const out = await withSlot(() => {
    if (socket.destroyed) throw new LatchError('peer_credentials_unavailable', 'the connection is already closed');
    return runPerl(READ_CREDENTIALS, args, socket);
  });
  const m = /^(-?\d+) (\d+) (\d+)\n$/.exec(out);
  if (!m) throw new LatchError('peer_credentials_unavailable', `${PERL} printed no credentials`);
  return { pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) };
}

/** The peer's credentials, or undefined when they cannot be read here (see peerCredentialsSupport for why). */
export async function peerCredentials(socket: net.Socket): Promise<PeerCredentials | undefined> {
  try {
    return await readPeerCredentials(socket);
  } catch {
    return undefined;
  }
}
