/**
 * The AgentBackend of `latch agent`: keys and signatures come from the paired authenticator
 * over the relay (AuthenticatorClient). The agent holds no private key. Identities are cached
 * (listIdentities runs on every list and sign) and refreshed with a `me` request in the
 * background. A sign waits `signTimeoutSeconds` (30 s), extended when the authenticator acks
 * that it is asking the user; then the user is told to approve there.
 */
import { spawn } from 'node:child_process';
import { LatchError, isLatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { MAX_SIGN_MESSAGE_BYTES, type SshKeyInfo, type SshSignBody } from '../protocol/messages.js';
import { TIMEOUT_ME_SECONDS, TIMEOUT_SIGN_SECONDS } from '../protocol/protocol-constants.js';
import { parseAuthorizedKeyLine } from '../protocol/ssh/ssh-public-key.js';
import { checkAnswerSignature } from './answer-check.js';
import type { AuthenticatorClient } from '../computer/authenticator-client.js';
import type { AgentBackend, AgentIdentity, SignContext } from './agent-server.js';
import type { HostHints } from './host-hints.js';

const REFRESH_MS = 60_000;

export interface AuthenticatorBackendOptions {
  client: AuthenticatorClient;
  /** Keys known from pairing or the last `latch status` (used until the first refresh). */
  initialKeys: SshKeyInfo[];
  hints?: HostHints;
  signTimeoutSeconds?: number;
  log: (line: string) => void;
  /** Called on ack; default: log + notify-send where available. */
  onPrompt?: (what: string) => void;
  onKeys?: (keys: SshKeyInfo[]) => void;
}

export class AuthenticatorBackend implements AgentBackend {
  #ids: AgentIdentity[];
  #fetchedAt = 0;
  #refreshing: Promise<void> | undefined;
  /** Agent connections (one per ssh process) whose sign the authenticator refused or never answered. */
  readonly #refusedConnections = new Set<number>();

  constructor(private readonly opts: AuthenticatorBackendOptions) {
    this.#ids = toIdentities(opts.initialKeys);
  }

  /** Refresh the key list now (awaitable at start-up). */
  async refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        // A background refresh never wakes a closed web app (§3.9): it would show a notification
        // with nothing to approve each time; the known keys serve until an open app answers.
        const info = await this.opts.client.request({ kind: 'me' }, { timeoutSeconds: TIMEOUT_ME_SECONDS, push: false });
        this.#ids = toIdentities(info.ssh_keys);
        this.#fetchedAt = Date.now();
        this.opts.onKeys?.(info.ssh_keys);
      } catch (e) {
        this.opts.log(`could not refresh the key list (${isLatchError(e) ? e.message : 'error'}); using the last known keys`);
        this.#fetchedAt = Date.now() - REFRESH_MS / 2; // retry sooner
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  async listIdentities(): Promise<AgentIdentity[]> {
    if (Date.now() - this.#fetchedAt > REFRESH_MS) void this.refresh();
    return this.#ids;
  }

  async sign(keyBlob: Uint8Array, data: Uint8Array, _flags: number, ctx: SignContext): Promise<Uint8Array> {
    // ssh offers its keys one after another: after a deny (or no answer) on this connection, do
    // not ask the user again for the next key of the same login.
    if (this.#refusedConnections.has(ctx.connectionId)) throw new LatchError('denied', 'already refused for this ssh connection');
    const body: SshSignBody = {
      kind: 'ssh_sign',
      key: encodeBase64url(keyBlob),
      data: encodeBase64url(data),
      // Only binds with their proof: the authenticator verifies each one itself.
      binds: ctx.binds.flatMap((b) =>
        b.signature
          ? [{ host_key: encodeBase64url(b.hostKeyBlob), session_id: encodeBase64url(b.sessionId), signature: encodeBase64url(b.signature), is_forwarding: b.isForwarding }]
          : [],
      ),
    };
    const last = ctx.binds[ctx.binds.length - 1];
    const hint = last ? this.opts.hints?.lookup(last.hostKeyBlob) : undefined;
    if (hint) body.host_hint = { host: hint.host, port: hint.port };
    const what = hint ? `SSH login to ${hint.host}` : 'SSH signature';
    let signature: string;
    try {
      ({ signature } = await this.#request(body, what));
    } catch (e) {
      if (isLatchError(e) && ['denied', 'host_key_changed', 'authenticator_timeout', 'bad_session_bind'].includes(e.code)) {
        this.#refusedConnections.add(ctx.connectionId);
        if (this.#refusedConnections.size > 1024) this.#refusedConnections.delete(this.#refusedConnections.values().next().value!);
      }
      throw e;
    }
    const sig = decodeBase64url(signature);
    // Never hand ssh a signature that does not verify for this key and these bytes.
    if (!(await checkAnswerSignature(keyBlob, sig, data))) throw new LatchError('bad_signature', 'the authenticator returned a signature that does not verify');
    return sig;
  }

  async signMessage(keyBlob: Uint8Array, namespace: string, message: Uint8Array): Promise<string> {
    if (message.length > MAX_SIGN_MESSAGE_BYTES) {
      throw new LatchError('message_too_large', `the message is ${message.length} bytes; Latch sends at most ${MAX_SIGN_MESSAGE_BYTES} to the authenticator`);
    }
    const { signature } = await this.#request(
      { kind: 'sign_message', key: encodeBase64url(keyBlob), namespace, message: encodeBase64url(message) },
      namespace === 'git' ? 'git signature' : `signature (namespace ${namespace})`,
    );
    return signature;
  }

  async #request(body: Parameters<AuthenticatorClient['request']>[0] & { kind: 'ssh_sign' | 'sign_message' }, what: string): Promise<{ signature: string }> {
    try {
      return (await this.opts.client.request(body, {
        timeoutSeconds: this.opts.signTimeoutSeconds ?? TIMEOUT_SIGN_SECONDS,
        onAck: () => (this.opts.onPrompt ?? defaultPrompt(this.opts.log))(what),
        // While it waits, say where the request went (issue 14, PROTOCOL.md §3.9): a live
        // authenticator acks within a moment and needs no line of its own.
        onSent: (reader) => {
          if (reader === 'push') this.opts.log(`${what}: sent to your phone (push)`);
          else if (reader === 'none') this.opts.log(`${what}: waiting for the app to open`);
        },
      })) as { signature: string };
    } catch (e) {
      this.opts.log(`${what} refused: ${isLatchError(e) ? `${e.message} [${e.code}]` : 'error'}`);
      throw e;
    }
  }
}

function toIdentities(keys: SshKeyInfo[]): AgentIdentity[] {
  const out: AgentIdentity[] = [];
  for (const k of keys) {
    try {
      out.push({ keyBlob: parseAuthorizedKeyLine(k.public_key).blob, comment: k.name });
    } catch {
      /* a key this build cannot parse is not offered */
    }
  }
  return out;
}

let notifySend: boolean | undefined;
function defaultPrompt(log: (l: string) => void): (what: string) => void {
  return (what) => {
    log(`${what}: approve on your authenticator`);
    if (notifySend === false) return;
    const child = spawn('notify-send', ['Latch', `${what}: approve on your authenticator`], { stdio: 'ignore' });
    child.on('error', () => (notifySend = false));
    child.unref();
  };
}
