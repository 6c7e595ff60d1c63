/**
 * Who may use the agent (docs/AGENT.md "Who may connect"; issue 12 item 3). As OpenSSH's agent
 * (ssh-agent.c, after accept: getpeereid, then `euid != 0 && getuid() != euid` is refused), a
 * connection is served only when its peer is the agent's own uid or root. The peer's uid is read
 * from the kernel (peer-credentials.ts) before a single byte of the connection is read.
 *
 * Where the uid cannot be read (not Linux, no perl), the agent falls back to what the kernel
 * enforces for a unix socket: connect(2) needs write permission on the socket file, so a 0600
 * socket admits only its owner and root. Then, before serving each connection, the socket file
 * must still be the one the agent created, still its own and still 0600; otherwise everyone is
 * refused (fail closed). Where the uid is read, it is the check, so a loosened socket still serves
 * its owner and never another uid.
 */
import type fs from 'node:fs';
import { lstatSync } from 'node:fs';
import type net from 'node:net';
import { isLatchError } from '../util/latch-error.js';
import { PERL, peerCredentialsSupport, readPeerCredentials, type PeerCredentials } from './peer-credentials.js';

/** Where peer credentials come from; tests of the fallback substitute one that has none. */
export interface PeerCredentialSource {
  support(): Promise<{ available: true } | { available: false; reason: string }>;
  read(socket: net.Socket): Promise<PeerCredentials>;
}

export const kernelPeerCredentials: PeerCredentialSource = { support: peerCredentialsSupport, read: readPeerCredentials };

export class PeerGuard {
  #created: fs.Stats | undefined;

  private constructor(
    private readonly socketPath: string,
    private readonly what: string,
    private readonly uidAvailable: boolean,
    private readonly source: PeerCredentialSource,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Finds out whether peer uids can be read here (once per process) and logs which check guards
   * the agent, unless `quiet` (the agent's second socket, the host hint one, says it only once).
   * `what` names the connections in the log ("a connection", "a host hint").
   */
  static async create(
    socketPath: string,
    log: (line: string) => void,
    opts: { source?: PeerCredentialSource | undefined; what?: string; quiet?: boolean } = {},
  ): Promise<PeerGuard> {
    const source = opts.source ?? kernelPeerCredentials;
    const s = await source.support();
    if (!opts.quiet) {
      if (s.available) log(`peer check: each connection's uid is read (SO_PEERCRED via ${PERL}); only ${allowed()} ${ownUid() === 0 ? 'is' : 'are'} served`);
      else log(`peer uid check unavailable (${s.reason}); only the socket's permissions keep other users out (docs/AGENT.md "Who may connect")`);
    }
    return new PeerGuard(socketPath, opts.what ?? 'a connection', s.available, source, log);
  }

  /** The socket as created (0600, ours): the fallback compares against it. */
  created(st: fs.Stats): void {
    this.#created = st;
  }

  /** Whether to serve this connection; logs why not. Call before reading from it. */
  async admit(sock: net.Socket): Promise<boolean> {
    if (this.uidAvailable) {
      let peer: PeerCredentials | undefined;
      try {
        peer = await this.source.read(sock);
      } catch (e) {
        if (sock.destroyed) return false; // closed while waiting (the agent is stopping): nothing to serve
        // A spawn that failed under load, say: the socket's permissions still decide, closed if loosened.
        this.log(`cannot read the peer uid of ${this.what} (${isLatchError(e) ? e.message : 'error'}); checking the socket's permissions instead`);
      }
      if (peer) {
        const own = ownUid();
        if (peer.uid === own || peer.uid === 0) return true;
        this.log(`refusing ${this.what} from uid ${peer.uid} (pid ${peer.pid}): only ${allowed()} may use this agent`);
        return false;
      }
    }
    const problem = this.#created && socketPermissionProblem(this.socketPath, this.#created);
    if (problem) {
      this.log(`refusing ${this.what}: ${problem}`);
      return false;
    }
    return true;
  }
}

function ownUid(): number | undefined {
  return process.getuid?.();
}

function allowed(): string {
  const own = ownUid();
  return own === 0 ? 'root (uid 0)' : `uid ${own} and root`;
}

/**
 * The fallback: why the socket no longer keeps other users out, or undefined while it still does
 * (the same socket file, still ours, still 0600).
 */
export function socketPermissionProblem(socketPath: string, created: fs.Stats): string | undefined {
  let now: fs.Stats;
  try {
    now = lstatSync(socketPath);
  } catch {
    return `${socketPath} is gone, so the agent cannot tell who connected`;
  }
  if (now.ino !== created.ino || now.dev !== created.dev) return `${socketPath} was replaced by another file`;
  const uid = ownUid();
  if (uid !== undefined && now.uid !== uid) return `${socketPath} is now owned by uid ${now.uid}`;
  if ((now.mode & 0o077) !== 0) {
    return (
      `${socketPath} is now mode ${(now.mode & 0o777).toString(8).padStart(4, '0')}; other users could connect and Latch cannot read ` +
      `a peer's uid here, so it serves no one until the socket is private again (chmod 600 ${socketPath})`
    );
  }
  return undefined;
}
