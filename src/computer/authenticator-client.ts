/**
 * The computer's channel to its paired authenticator (PROTOCOL.md §5): send a boxed request,
 * wait for the response bound to it (same request_id, request_hash of our exact bytes, fresh),
 * and let an `ack` extend the wait while the user is being asked.
 *
 * Several processes may read the same inbox (`latch agent` and `latch status`). A response
 * that matches none of our requests is left for its owner, and only acked (cleared) once it is
 * older than any request could wait.
 */
import { LatchError, isLatchError } from '../util/latch-error.js';
import { decodeBase64url } from '../protocol/base64url.js';
import { boxMessageShared, boxSharedKey, openBoxedMessageShared } from '../protocol/envelope.js';
import {
  encodeMessage,
  parseMessage,
  parseResult,
  requestHash,
  newRequestId,
  checkFresh,
  nowSeconds,
  type RequestBody,
  type RequestKind,
  type ResultFor,
  type RequestMessage,
  type ResponseMessage,
  type AckMessage,
} from '../protocol/messages.js';
import { PROTOCOL_VERSION, ACK_EXTENSION_SECONDS, FRESHNESS_WINDOW_SECONDS } from '../protocol/protocol-constants.js';
import type { QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import { classifyInboxFailure, type RelayClient, type RelayMessage } from '../transport/relay-client.js';
import type { ComputerPairing } from './computer-state.js';

/** A response nobody here claims is cleared once older than this (longest wait + margin). */
const ORPHAN_SECONDS = 300;

interface Pending {
  hash: string;
  kind: RequestKind;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onAck: () => void;
}

/** Thrown when the authenticator answered with an error; `code` is the authenticator's. */
export class AuthenticatorError extends LatchError {}

export class AuthenticatorClient {
  readonly #pending = new Map<string, Pending>();
  readonly #abort = new AbortController();
  readonly #queue: QueueKeyPair;
  /** crypto_box key with the authenticator, derived once (not per message: issue 9). */
  readonly #boxKey: Uint8Array;
  #loop: Promise<void> | undefined;

  constructor(
    private readonly sodium: Sodium,
    private readonly relay: RelayClient,
    private readonly pairing: ComputerPairing,
    private readonly log: (line: string) => void,
    /**
     * Hand a caller its answer before the relay confirms the ack that clears it, instead of after
     * (issue 9: the ack's round trip was ~1 ms of each sign). Only for a process that lives on
     * after the answer (`latch agent`): a CLI command that exits on its answer would leave the ack
     * unsent and the response on the relay, where it waits to be cleared as an orphan.
     */
    private readonly settleBeforeAck = false,
  ) {
    this.#queue = { publicKey: decodeBase64url(pairing.queuePublicKey), secretKey: decodeBase64url(pairing.queueSecretKey) };
    this.#boxKey = boxSharedKey(sodium, decodeBase64url(pairing.authenticatorPublicKey), decodeBase64url(pairing.computerSecretKey));
  }

  async request<B extends RequestBody>(
    body: B,
    opts: {
      timeoutSeconds: number;
      onAck?: () => void;
      signal?: AbortSignal;
      /** An ack does not move the end (WebAuthn: the page's timeout is the whole lifetime, §5.1.3 step 20). */
      keepTimeoutOnAck?: boolean;
      /** Once the relay stored the request: who will read it, when the relay says (PROTOCOL.md §3.9). */
      onSent?: (reader: 'live' | 'push' | 'none' | undefined) => void;
      /** false: do not wake a closed app for this request (`Latch-Push: off`, §3.9); an open one still answers. */
      push?: boolean;
    },
  ): Promise<ResultFor<B['kind']>> {
    this.#loop ??= this.#receive();
    const now = nowSeconds();
    // PROTOCOL.md §5.2 deadline: when this computer stops waiting (unless acked first), so the
    // authenticator never prompts for a request nobody waits for any more.
    const deadline = now + Math.min(FRESHNESS_WINDOW_SECONDS, Math.max(1, Math.ceil(opts.timeoutSeconds)));
    const message: RequestMessage = { v: PROTOCOL_VERSION, type: 'request', request_id: newRequestId(this.sodium), unix_seconds: now, deadline, body };
    const bytes = encodeMessage(message);
    const hash = requestHash(this.sodium, bytes);
    return new Promise<ResultFor<B['kind']>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout>;
      let acked = false;
      const finish = (): void => {
        clearTimeout(timer);
        this.#pending.delete(message.request_id);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const arm = (seconds: number): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          finish();
          reject(new LatchError('authenticator_timeout', `the authenticator did not answer within ${seconds} s`, { status: 504 }));
        }, seconds * 1000);
      };
      const onAbort = (): void => {
        finish();
        reject(new LatchError('cancelled', 'request cancelled'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(message.request_id, {
        hash,
        kind: body.kind,
        resolve: (v) => {
          finish();
          resolve(v as ResultFor<B['kind']>);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
        onAck: () => {
          // Krypton: an ack from a prompting phone extends the wait. Once only: a relay that
          // replays the genuine ack must not hold the request open indefinitely.
          if (acked) return;
          acked = true;
          if (!opts.keepTimeoutOnAck) arm(ACK_EXTENSION_SECONDS);
          opts.onAck?.();
        },
      });
      arm(opts.timeoutSeconds);
      const envelope = boxMessageShared(this.sodium, bytes, this.#boxKey);
      this.relay.send(this.pairing.authenticatorQueue, envelope, opts.push === false ? { push: false } : undefined).then((sent) => opts.onSent?.(sent.reader)).catch((e: unknown) => {
        // The authenticator closes its inbox when the user removes this computer there.
        const err = isLatchError(e) && e.code === 'queue_closed' ? new LatchError('unpaired', `"${this.pairing.deviceName}" removed this computer; pair again with \`latch pair\``) : e;
        this.#pending.get(message.request_id)?.reject(err);
      });
    });
  }

  close(): void {
    this.#abort.abort();
    for (const p of this.#pending.values()) p.reject(new LatchError('cancelled', 'connection to the authenticator closed'));
  }

  async #receive(): Promise<void> {
    try {
      // The inbox outlives relay errors (it retries); but a relay that refuses to read this queue
      // (e.g. 401 from a clock more than 300 s off, PROTOCOL.md §3.2) fails the requests waiting
      // now with its reason, rather than letting them run into a timeout that explains nothing.
      const onError = (e: LatchError): void => {
        if (classifyInboxFailure(e) !== 'relay-refused') return;
        for (const p of [...this.#pending.values()]) p.reject(e);
      };
      for await (const m of this.relay.inbox(this.#queue, { signal: this.#abort.signal, early: true, onError })) {
        await this.#dispatch(m).catch((e) => this.log(`inbox: ${(e as Error).message}`));
      }
    } catch (e) {
      if (!this.#abort.signal.aborted) {
        for (const p of this.#pending.values()) p.reject(e);
      }
    }
  }

  async #dispatch(m: RelayMessage): Promise<void> {
    let msg;
    try {
      msg = parseMessage(openBoxedMessageShared(this.sodium, m.body, this.#boxKey));
    } catch (e) {
      this.log(`dropped a message that did not verify: ${(e as Error).message}`);
      await this.relay.ack(this.#queue, [m.id]);
      return;
    }
    if (msg.type !== 'response' && msg.type !== 'ack') {
      this.log(`dropped an unexpected ${msg.type} message`);
      await this.relay.ack(this.#queue, [m.id]);
      return;
    }
    const pending = this.#pending.get(msg.request_id);
    if (!pending) {
      if (nowSeconds() - m.receivedAt > ORPHAN_SECONDS) await this.relay.ack(this.#queue, [m.id]);
      return;
    }
    if (!this.settleBeforeAck) {
      await this.relay.ack(this.#queue, [m.id]);
      this.#settle(pending, msg);
      return;
    }
    // The answer is the caller's either way; an ack that fails leaves the message on the relay,
    // and its redelivery finds no pending request and is cleared as an orphan. Nor does the next
    // answer wait for this ack's confirmation (a relay commit): with several ssh logins at once,
    // each answer waited for the one before it to be cleared (issue 9).
    this.relay.ack(this.#queue, [m.id]).catch((e: unknown) => this.log(`could not clear an answer on the relay (${(e as Error).message}); it is cleared when delivered again`));
    this.#settle(pending, msg);
  }

  #settle(pending: Pending, msg: ResponseMessage | AckMessage): void {
    if (msg.request_hash !== pending.hash) {
      // Bound to another request with the same id: not an answer to ours (§5.4).
      this.log(`dropped a ${msg.type} whose request_hash does not match request ${msg.request_id}`);
      return;
    }
    try {
      checkFresh(msg.unix_seconds, nowSeconds());
    } catch (e) {
      pending.reject(e);
      return;
    }
    if (msg.type === 'ack') {
      pending.onAck();
      return;
    }
    if (msg.error) {
      pending.reject(new AuthenticatorError(msg.error.code, msg.error.message));
      return;
    }
    try {
      pending.resolve(parseResult(pending.kind, msg.result));
    } catch (e) {
      pending.reject(e);
    }
  }
}
