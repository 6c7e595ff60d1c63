/**
 * `latch agent`'s ssh-agent server (draft-miller-ssh-agent) on a unix socket. Keys of the
 * paired authenticator come from an AgentBackend; an optional upstream agent supplies
 * the user's other keys (issue 3, "The user's other keys"). The server never holds a
 * private key and never crashes on client input: a malformed or oversized frame closes
 * only that connection. Node only.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LatchError, isLatchError } from '../util/latch-error.js';
import { SshReader, SshWriter } from '../protocol/ssh/ssh-wire.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { parseSessionBind, verifySessionBind, SESSION_BIND_EXTENSION } from '../protocol/ssh/session-bind.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import { sshFingerprint } from '../protocol/ssh/ssh-public-key.js';
import {
  AgentFrameReader,
  decodeAgentRequest,
  decodeIdentitiesAnswer,
  encodeExtensionFailure,
  encodeFailure,
  encodeIdentitiesAnswer,
  encodeRequestIdentities,
  encodeSignResponse,
  encodeSuccess,
  frame,
  type AgentRequest,
} from './agent-codec.js';
import { AgentClient } from './agent-client.js';
import { AgentMsg, SIGN_MESSAGE_EXTENSION } from './agent-message-ids.js';
import { AgentLock } from './agent-lock.js';
import { PeerGuard, type PeerCredentialSource } from './peer-guard.js';

export interface AgentIdentity {
  keyBlob: Uint8Array;
  comment: string;
}
export interface VerifiedSessionBind {
  hostKeyBlob: Uint8Array;
  sessionId: Uint8Array;
  isForwarding: boolean;
  /** The host's signature over sessionId, so a backend can have it checked again elsewhere (the authenticator does). */
  signature?: Uint8Array;
}
export interface SignContext {
  binds: readonly VerifiedSessionBind[];
  connectionId: number;
}
export interface AgentBackend {
  listIdentities(): Promise<AgentIdentity[]>;
  /** Resolves to an SSH signature blob, or rejects (-> SSH_AGENT_FAILURE). */
  sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: SignContext): Promise<Uint8Array>;
  /** Latch extension: sign a full message (e.g. a git commit) under an SSHSIG namespace, so the authenticator can show it. Resolves to the armored SSHSIG text. */
  signMessage?(keyBlob: Uint8Array, namespace: string, message: Uint8Array, ctx: SignContext): Promise<string>;
}

export interface AgentServerOptions {
  socketPath: string;
  backend: AgentBackend;
  upstreamSocket?: string;
  log?: (line: string) => void;
  /** Where peers' uids come from (default: the kernel, peer-guard.ts); tests of the fallback pass one without. */
  peerCredentials?: PeerCredentialSource;
}

export interface AgentServer {
  close(): Promise<void>;
}

/** OpenSSH ssh-agent.c AGENT_MAX_SESSION_IDS. */
export const MAX_SESSION_BINDS = 16;
/** Pipelined requests a client may queue before we treat it as abusive. */
const MAX_QUEUED = 64;

/** Parse sign-message@latch.dev contents: string keyblob, string namespace, string message. */
export function parseSignMessageRequest(contents: Uint8Array): { keyBlob: Uint8Array; namespace: string; message: Uint8Array } {
  const r = new SshReader(contents, SIGN_MESSAGE_EXTENSION);
  const keyBlob = r.string().slice();
  const namespace = r.utf8();
  const message = r.string().slice();
  r.expectEnd();
  if (namespace.length === 0) throw new LatchError('ssh_malformed', `${SIGN_MESSAGE_EXTENSION}: empty namespace`);
  return { keyBlob, namespace, message };
}

export function encodeSignMessageRequest(keyBlob: Uint8Array, namespace: string, message: Uint8Array): Uint8Array {
  return new SshWriter().string(keyBlob).string(namespace).string(message).bytes();
}

/**
 * Why a socket directory is unsafe, or undefined when it is safe (docs/AGENT.md "Socket").
 * The socket itself is mode 0600, so what matters is who can replace it: the directory's owner,
 * and anyone who may write a directory that is not sticky. A directory of someone else's, or one
 * that is group/world-writable without the sticky bit, is refused; anything else (0755, 0750, a
 * sticky /tmp-like directory of one's own) is fine, as it is for `ssh-agent -a`.
 */
export function socketDirProblem(dir: string, st: { uid: number; mode: number }, uid: number | undefined): string | undefined {
  if (uid !== undefined && st.uid !== uid) return `it is owned by uid ${st.uid}, not by you (uid ${uid}), so its owner could replace the socket`;
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    const who = (st.mode & 0o020) !== 0 ? ((st.mode & 0o002) !== 0 ? 'group and others' : 'its group') : 'others';
    return `${who} may write it and it is not sticky (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), so they could replace the socket (chmod go-w ${dir}, or use a directory of your own)`;
  }
  return undefined;
}

async function prepareSocketPath(socketPath: string): Promise<void> {
  const dir = path.dirname(path.resolve(socketPath));
  let created = false;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      created = true;
    } else if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new LatchError('agent_socket_dir', `${dir} is not a directory`);
  if (created) fs.chmodSync(dir, 0o700);
  else {
    const unsafe = socketDirProblem(dir, st, process.getuid?.());
    if (unsafe) throw new LatchError('agent_socket_dir', `refusing socket directory ${dir}: ${unsafe}`);
  }
  // A leftover socket: reuse the path only if nobody answers on it.
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(socketPath);
  } catch {
    existing = undefined;
  }
  if (existing) {
    if (!existing.isSocket()) throw new LatchError('agent_socket_in_use', `${socketPath} exists and is not a socket`);
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.createConnection(socketPath);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw new LatchError('agent_socket_in_use', `another agent is listening on ${socketPath}`);
    fs.unlinkSync(socketPath);
  }
}

export async function startAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const { socketPath, backend, upstreamSocket } = opts;
  const log = opts.log ?? (() => undefined);
  await prepareSocketPath(socketPath);

  let nextConnectionId = 1;
  const sockets = new Set<net.Socket>();
  const lock = new AgentLock(log);
  const guard = await PeerGuard.create(socketPath, log, { source: opts.peerCredentials });

  // pauseOnConnect: nothing is read from a connection until its peer is checked (issue 12 item 3);
  // what the client sends meanwhile waits in the kernel's socket buffer.
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    sockets.add(sock);
    let conn: AgentConnection | undefined;
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      sockets.delete(sock);
      conn?.dispose();
    });
    void guard.admit(sock).then((ok) => {
      if (!ok) sock.destroy();
      if (sock.destroyed) return;
      conn = new AgentConnection(nextConnectionId++, sock, backend, upstreamSocket, lock, log);
      sock.resume();
    });
  });
  server.on('error', (e) => log(`agent server error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));

  // As ssh-agent: the socket is created under umask 0177, so it is never connectable by others,
  // not even between listen() and the chmod below.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  fs.chmodSync(socketPath, 0o600);
  guard.created(fs.lstatSync(socketPath));
  log(`agent listening on ${socketPath}`);

  return {
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      try {
        fs.unlinkSync(socketPath);
      } catch {
        /* already gone */
      }
    },
  };
}

class AgentConnection {
  private readonly reader = new AgentFrameReader();
  private readonly binds: VerifiedSessionBind[] = [];
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private upstream: AgentClient | undefined;
  private connecting: Promise<AgentClient | undefined> | undefined;
  private disposed = false;

  constructor(
    private readonly id: number,
    private readonly sock: net.Socket,
    private readonly backend: AgentBackend,
    private readonly upstreamSocket: string | undefined,
    private readonly lock: AgentLock,
    private readonly log: (line: string) => void,
  ) {
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', () => sock.destroy());
  }

  private onData(chunk: Uint8Array): void {
    if (this.disposed) return;
    let bodies: Uint8Array[];
    try {
      bodies = this.reader.push(chunk);
    } catch (e) {
      this.drop(e);
      return;
    }
    for (const body of bodies) {
      let req: AgentRequest;
      try {
        req = decodeAgentRequest(body);
      } catch (e) {
        this.drop(e);
        return;
      }
      if (++this.queued > MAX_QUEUED) {
        this.drop(new LatchError('agent_flood', 'too many pipelined requests'));
        return;
      }
      this.chain = this.chain.then(async () => {
        // Never bother the authenticator for a client that has already gone away.
        if (this.sock.destroyed) {
          this.queued--;
          return;
        }
        let resp: Uint8Array;
        try {
          resp = await this.handle(req, body);
        } catch (e) {
          this.log(`connection ${this.id}: request failed (${isLatchError(e) ? e.code : 'error'})`);
          resp = encodeFailure();
        }
        this.queued--;
        if (!this.sock.destroyed) this.sock.write(frame(resp));
      });
    }
  }

  private drop(e: unknown): void {
    this.log(`connection ${this.id}: closing (${isLatchError(e) ? e.code : 'bad input'})`);
    this.disposed = true;
    this.sock.destroy();
  }

  dispose(): void {
    this.disposed = true;
    this.upstream?.close();
    this.upstream = undefined;
  }

  private ctx(): SignContext {
    return { binds: this.binds.map((b) => ({ ...b })), connectionId: this.id };
  }

  /**
   * One upstream connection per client connection, made once: requests that arrive while it is
   * being made wait for the same one, so a session-bind and the sign after it reach the upstream
   * agent on the same connection (its destination constraints depend on that).
   */
  private getUpstream(): Promise<AgentClient | undefined> {
    if (!this.upstreamSocket || this.disposed) return Promise.resolve(undefined);
    if (this.upstream && !this.upstream.isClosed) return Promise.resolve(this.upstream);
    this.connecting ??= AgentClient.connect(this.upstreamSocket).then(
      (c) => {
        this.connecting = undefined;
        if (this.disposed) {
          c.close();
          return undefined;
        }
        return (this.upstream = c);
      },
      () => {
        this.connecting = undefined;
        this.log(`connection ${this.id}: upstream agent unreachable`);
        return undefined;
      },
    );
    return this.connecting;
  }

  /** Forward a raw request body to the upstream agent, or FAILURE without one. */
  private async forward(body: Uint8Array): Promise<Uint8Array> {
    const up = await this.getUpstream();
    if (!up) return encodeFailure();
    try {
      return await up.request(body);
    } catch {
      return encodeFailure();
    }
  }

  private async backendHas(keyBlob: Uint8Array): Promise<boolean> {
    const ids = await this.backend.listIdentities();
    return ids.some((i) => bytesEqual(i.keyBlob, keyBlob));
  }

  private async handle(req: AgentRequest, body: Uint8Array): Promise<Uint8Array> {
    if (req.type === 'lock' || req.type === 'unlock') return this.handleLock(req.type, req.passphrase, body);
    // ssh-agent.c process_message: a locked agent lists no keys and answers FAILURE to the rest.
    if (this.lock.locked) return req.type === 'request-identities' ? encodeIdentitiesAnswer([]) : encodeFailure();
    switch (req.type) {
      case 'request-identities': {
        const ids = [...(await this.backend.listIdentities())];
        const up = await this.getUpstream();
        if (up) {
          try {
            for (const u of decodeIdentitiesAnswer(await up.request(encodeRequestIdentities()))) {
              if (!ids.some((i) => bytesEqual(i.keyBlob, u.keyBlob))) ids.push(u);
            }
          } catch {
            this.log(`connection ${this.id}: upstream identities unavailable`);
          }
        }
        return encodeIdentitiesAnswer(ids);
      }
      case 'sign': {
        if (await this.backendHas(req.keyBlob)) {
          // "No cross-protocol signing" (issue 3): refuse before bothering the authenticator.
          const parsed = parseSshSignDataForKey(req.keyBlob, req.data);
          this.log(`connection ${this.id}: sign ${parsed.kind} with ${sshFingerprint(req.keyBlob)}`);
          return encodeSignResponse(await this.backend.sign(req.keyBlob, req.data, req.flags, this.ctx()));
        }
        return this.forward(body);
      }
      case 'extension':
        return this.handleExtension(req.name, req.contents, body);
      case 'opaque':
      case 'remove-identity':
      case 'remove-all':
        return this.forward(body);
      case 'unknown':
        return encodeFailure();
    }
  }

  /**
   * LOCK/UNLOCK are Latch's own (agent-lock.ts), so they hold with or without an upstream agent.
   * The upstream agent is locked and unlocked along with us, so its keys stay locked even for a
   * client that reaches it directly; its answer does not change ours.
   */
  private async handleLock(type: 'lock' | 'unlock', passphrase: Uint8Array, body: Uint8Array): Promise<Uint8Array> {
    const ok = type === 'lock' ? await this.lock.lock(passphrase) : await this.lock.unlock(passphrase);
    if (ok && this.upstreamSocket) {
      const up = await this.forward(body);
      if (up[0] !== AgentMsg.SSH_AGENT_SUCCESS) this.log(`connection ${this.id}: the upstream agent did not ${type} (it answered ${up[0]})`);
    }
    return ok ? encodeSuccess() : encodeFailure();
  }

  private async handleExtension(name: string, contents: Uint8Array, body: Uint8Array): Promise<Uint8Array> {
    if (name === SESSION_BIND_EXTENSION) {
      const ok = await this.sessionBind(contents);
      // Let an upstream agent apply its own destination constraints; awaited so that the bind
      // reaches it before any sign request that follows on this connection.
      if (ok && this.upstreamSocket) await this.forward(body);
      // ssh-agent.c process_extension answers FAILURE (5), which ssh expects; 28 reads as "invalid format".
      return ok ? encodeSuccess() : encodeFailure();
    }
    if (name === SIGN_MESSAGE_EXTENSION) {
      let parsed: ReturnType<typeof parseSignMessageRequest>;
      try {
        parsed = parseSignMessageRequest(contents);
      } catch {
        return encodeExtensionFailure();
      }
      if (!this.backend.signMessage || !(await this.backendHas(parsed.keyBlob))) return encodeFailure();
      this.log(`connection ${this.id}: sign message (namespace ${JSON.stringify(parsed.namespace)}) with ${sshFingerprint(parsed.keyBlob)}`);
      try {
        const armored = await this.backend.signMessage(parsed.keyBlob, parsed.namespace, parsed.message, this.ctx());
        return encodeSuccess(new SshWriter().string(armored).bytes());
      } catch {
        return encodeExtensionFailure();
      }
    }
    if (name === 'query') {
      // PROTOCOL.agent: answer with the extension names we support.
      return encodeSuccess(new SshWriter().string('query').string(SESSION_BIND_EXTENSION).string(SIGN_MESSAGE_EXTENSION).bytes());
    }
    return this.forward(body);
  }

  /** OpenSSH ssh-agent.c process_ext_session_bind, rule for rule. */
  private async sessionBind(contents: Uint8Array): Promise<boolean> {
    let bind;
    try {
      bind = parseSessionBind(contents);
    } catch {
      this.log(`connection ${this.id}: malformed session-bind`);
      return false;
    }
    if (!(await verifySessionBind(bind))) {
      this.log(`connection ${this.id}: session-bind signature does not verify`);
      return false;
    }
    for (const b of this.binds) {
      // A connection bound for authentication (not forwarding) may not be bound again.
      if (!b.isForwarding) {
        this.log(`connection ${this.id}: session-bind after an authentication bind`);
        return false;
      }
      const sidMatch = bytesEqual(b.sessionId, bind.sessionId);
      const keyMatch = bytesEqual(b.hostKeyBlob, bind.hostKeyBlob);
      if (sidMatch && keyMatch) return true;
      if (sidMatch) {
        this.log(`connection ${this.id}: session id already bound to another host key`);
        return false;
      }
    }
    if (this.binds.length >= MAX_SESSION_BINDS) {
      this.log(`connection ${this.id}: too many session binds`);
      return false;
    }
    this.binds.push({ hostKeyBlob: bind.hostKeyBlob, sessionId: bind.sessionId, isForwarding: bind.isForwarding, signature: bind.signature });
    return true;
  }
}
