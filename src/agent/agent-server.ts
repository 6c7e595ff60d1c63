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
import { SIGN_MESSAGE_EXTENSION } from './agent-message-ids.js';

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
    const uid = process.getuid?.();
    if ((st.mode & 0o077) !== 0 || (uid !== undefined && st.uid !== uid)) {
      throw new LatchError('agent_socket_dir', `refusing socket directory ${dir}: it must be owned by you with mode 0700 (chmod 700 ${dir})`);
    }
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

  const server = net.createServer((sock) => {
    sockets.add(sock);
    const conn = new AgentConnection(nextConnectionId++, sock, backend, upstreamSocket, log);
    sock.on('close', () => {
      sockets.delete(sock);
      conn.dispose();
    });
  });
  server.on('error', (e) => log(`agent server error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
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
  private disposed = false;

  constructor(
    private readonly id: number,
    private readonly sock: net.Socket,
    private readonly backend: AgentBackend,
    private readonly upstreamSocket: string | undefined,
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

  private async getUpstream(): Promise<AgentClient | undefined> {
    if (!this.upstreamSocket || this.disposed) return undefined;
    if (this.upstream && !this.upstream.isClosed) return this.upstream;
    try {
      this.upstream = await AgentClient.connect(this.upstreamSocket);
    } catch {
      this.log(`connection ${this.id}: upstream agent unreachable`);
      return undefined;
    }
    return this.upstream;
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
      case 'lock':
      case 'unlock':
        return this.forward(body);
      case 'unknown':
        return encodeFailure();
    }
  }

  private async handleExtension(name: string, contents: Uint8Array, body: Uint8Array): Promise<Uint8Array> {
    if (name === SESSION_BIND_EXTENSION) {
      const ok = await this.sessionBind(contents);
      if (ok) void this.forward(body); // let an upstream agent apply its own destination constraints
      return ok ? encodeSuccess() : encodeExtensionFailure();
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
