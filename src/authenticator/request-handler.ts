/**
 * The authenticator's side of PROTOCOL.md §5: open a boxed request from a paired computer,
 * check it (version, form, freshness), answer a replay from the cache, otherwise act on it
 * and remember the answer. One instance serves all pairings of a keystore.
 */
import { LatchError, isLatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { boxMessageRandom, openBoxedMessage, envelopeKind } from '../protocol/envelope.js';
import {
  parseMessage,
  encodeMessage,
  requestHash,
  checkFresh,
  nowSeconds,
  type RequestMessage,
  type ResponseMessage,
  type DeviceInfo,
} from '../protocol/messages.js';
import { PROTOCOL_VERSION, REPLAY_CACHE_SECONDS } from '../protocol/protocol-constants.js';
import type { Sodium } from '../protocol/sodium.js';
import type { Keystore } from './keystore.js';
import type { AuthenticatorState, ReplayEntry, StoredPairing } from './authenticator-state.js';
import { sshKeyInfo } from './ssh-key-factory.js';
import { SshRequestHandler, denyAll } from './ssh-request-handler.js';
import type { Approver } from './sign-review.js';

export type Send = (envelope: Uint8Array) => Promise<void>;
export type Log = (line: string) => void;

export function deviceInfo(state: AuthenticatorState): DeviceInfo {
  return { name: state.name, device_id: state.deviceId, ssh_keys: state.sshKeys.map(sshKeyInfo) };
}

export class RequestHandler {
  readonly #ssh: SshRequestHandler;

  constructor(
    private readonly sodium: Sodium,
    private readonly keystore: Keystore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
    /** Who approves signatures (issue 3); without one every signature is denied. */
    opts: { approver?: Approver } = {},
  ) {
    this.#ssh = new SshRequestHandler(sodium, keystore, opts.approver ?? denyAll, log, clock);
  }

  /**
   * Handle one envelope from a pairing's inbox; responses go out through `send`. Never throws
   * for what a peer sent: bad input is logged and, where the request can be identified, answered
   * with an error response. Only local failures (disk, relay) reject.
   */
  async handle(pairing: StoredPairing, envelope: Uint8Array, send: Send): Promise<void> {
    let bytes: Uint8Array;
    try {
      if (envelopeKind(envelope) !== 'boxed') throw new LatchError('bad_message', 'expected a boxed envelope');
      bytes = openBoxedMessage(
        this.sodium,
        envelope,
        decodeBase64url(pairing.computerPublicKey),
        decodeBase64url(pairing.sessionSecretKey),
      );
    } catch (e) {
      // Cannot tell who sent it, so there is nobody to answer (§4.2): log only.
      this.log(`dropped an envelope for ${pairing.computerName}: ${describe(e)}`);
      return;
    }
    let request: RequestMessage;
    try {
      const msg = parseMessage(bytes);
      if (msg.type !== 'request') throw new LatchError('bad_message', `expected a request, got ${msg.type}`);
      request = msg;
    } catch (e) {
      this.log(`refused a malformed message from ${pairing.computerName}: ${describe(e)}`);
      return;
    }
    const hash = requestHash(this.sodium, bytes);
    const reply = (plain: Uint8Array): Promise<void> =>
      send(boxMessageRandom(this.sodium, plain, decodeBase64url(pairing.computerPublicKey), decodeBase64url(pairing.sessionSecretKey)));

    // Claim the request id under the keystore lock, against the newest state on disk, so two
    // processes (device run, device pair) or a redelivery after a crash never act twice (§5.5).
    const now = this.clock();
    let staleError: unknown;
    try {
      checkFresh(request.unix_seconds, now);
    } catch (e) {
      staleError = e;
    }
    const claim = await this.keystore.transact((s): { write: boolean; value: Claim } => {
      const before = s.replay.length;
      s.replay = s.replay.filter((r) => keepReplayEntry(r, now));
      const pruned = s.replay.length !== before;
      const c = s.replay.find((r) => r.requestId === request.request_id);
      if (c) {
        if (c.requestHash !== hash) return { write: pruned, value: { kind: 'mismatch' } };
        if (c.response !== '') return { write: pruned, value: { kind: 'cached', response: c.response } };
        if (c.pid !== undefined && c.pid !== process.pid && processAlive(c.pid)) return { write: pruned, value: { kind: 'busy' } };
        if (c.pid === process.pid) return { write: pruned, value: { kind: 'busy' } };
        return { write: pruned, value: { kind: 'interrupted' } };
      }
      // A stale request was never accepted, so it must not pin an answer: no claim.
      if (staleError !== undefined) return { write: pruned, value: { kind: 'stale' } };
      s.replay.push({ requestId: request.request_id, requestHash: hash, response: '', at: now, requestSeconds: request.unix_seconds, pid: process.pid });
      return { write: true, value: { kind: 'claimed' } };
    });
    switch (claim.kind) {
      case 'mismatch':
        this.log(`refused request ${request.request_id}: its id was used before for a different request`);
        return;
      case 'busy':
        this.log(`request ${request.request_id} (${request.body.kind}) is already being handled`);
        return;
      case 'cached':
        this.log(`replayed request ${request.request_id} (${request.body.kind}) answered from cache`);
        await reply(decodeBase64url(claim.response));
        return;
      case 'stale':
        await reply(this.#response(request, hash, { error: errorBody(staleError) }));
        return;
      case 'interrupted': {
        // Claimed by a process that died mid-action: it may or may not have acted, so the
        // only safe answer is a refusal (never a second signature).
        this.log(`request ${request.request_id} (${request.body.kind}) was interrupted by a crash; refusing it`);
        const plain = this.#response(request, hash, {
          error: { code: 'request_interrupted', message: 'the authenticator stopped while handling this request; try again' },
        });
        await this.#finish(request, hash, plain, pairing, false);
        await reply(plain);
        return;
      }
      case 'claimed':
        break;
    }

    // Tells the computer a person is being asked, so it extends its wait (§5, ack).
    const ack = (): Promise<void> =>
      reply(encodeMessage({ v: PROTOCOL_VERSION, type: 'ack', request_id: request.request_id, request_hash: hash, unix_seconds: this.clock() }));
    let outcome: { result: unknown } | { error: { code: string; message: string } };
    try {
      outcome = { result: await this.#act(pairing, request, ack) };
    } catch (e) {
      this.log(`request ${request.body.kind} from ${pairing.computerName} failed: ${describe(e)}`);
      outcome = { error: errorBody(e) };
    }
    const plain = this.#response(request, hash, outcome);
    // The answer and its effect land in one write: an unpair that was answered is applied.
    await this.#finish(request, hash, plain, pairing, request.body.kind === 'unpair' && 'result' in outcome);
    await reply(plain);
    if (request.body.kind === 'unpair') this.log(`unpaired from ${pairing.computerName}`);
  }

  async #act(pairing: StoredPairing, request: RequestMessage, ack: () => Promise<void>): Promise<unknown> {
    const body = request.body;
    switch (body.kind) {
      case 'pair_hello':
      case 'me':
        return deviceInfo(this.keystore.state);
      case 'unpair':
        return {};
      case 'ssh_sign':
        return this.#ssh.sshSign(pairing, body, ack);
      case 'sign_message':
        return this.#ssh.signMessage(pairing, body, ack);
      default: {
        const never: never = body;
        throw new LatchError('unsupported_request', `unsupported request ${String((never as { kind: string }).kind)}`);
      }
    }
  }

  #response(request: RequestMessage, hash: string, outcome: { result: unknown } | { error: { code: string; message: string } }): Uint8Array {
    const msg: ResponseMessage = {
      v: PROTOCOL_VERSION,
      type: 'response',
      request_id: request.request_id,
      request_hash: hash,
      unix_seconds: this.clock(),
      ...outcome,
    };
    return encodeMessage(msg);
  }

  async #finish(request: RequestMessage, hash: string, plain: Uint8Array, pairing: StoredPairing, removePairing: boolean): Promise<void> {
    await this.keystore.update((s) => {
      const entry = s.replay.find((r) => r.requestId === request.request_id && r.requestHash === hash);
      if (entry) entry.response = encodeBase64url(plain);
      else s.replay.push({ requestId: request.request_id, requestHash: hash, response: encodeBase64url(plain), at: this.clock(), requestSeconds: request.unix_seconds });
      if (removePairing) s.pairings = s.pairings.filter((p) => p.id !== pairing.id);
    });
  }
}

type Claim =
  | { kind: 'claimed' | 'mismatch' | 'busy' | 'stale' | 'interrupted' }
  | { kind: 'cached'; response: string };

/**
 * An entry is kept while its request could still be accepted as fresh anywhere in the window,
 * measured from the request's own time and from when we first saw it (whichever is later),
 * plus a margin: a replay can never outlive its cache entry.
 */
function keepReplayEntry(r: ReplayEntry, now: number): boolean {
  const anchor = Math.max(r.at, r.requestSeconds ?? r.at);
  return now - anchor <= REPLAY_CACHE_SECONDS;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a peer may learn of an error: its code and message, never a cause or a stack. */
function errorBody(e: unknown): { code: string; message: string } {
  if (isLatchError(e)) return { code: e.code, message: e.message };
  return { code: 'internal_error', message: 'the authenticator could not complete the request' };
}

function describe(e: unknown): string {
  if (isLatchError(e)) return `${e.code}: ${e.message}${e.cause ? ` (${String(e.cause)})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}
