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
import type { AuthenticatorState, StoredPairing } from './authenticator-state.js';
import { sshKeyInfo } from './ssh-key-factory.js';

export type Send = (envelope: Uint8Array) => Promise<void>;
export type Log = (line: string) => void;

export function deviceInfo(state: AuthenticatorState): DeviceInfo {
  return { name: state.name, device_id: state.deviceId, ssh_keys: state.sshKeys.map(sshKeyInfo) };
}

export class RequestHandler {
  constructor(
    private readonly sodium: Sodium,
    private readonly keystore: Keystore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
  ) {}

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

    const cached = this.keystore.state.replay.find((r) => r.requestId === request.request_id);
    if (cached) {
      if (cached.requestHash !== hash) {
        this.log(`refused request ${request.request_id}: its id was used before for a different request`);
        return;
      }
      this.log(`replayed request ${request.request_id} (${request.body.kind}) answered from cache`);
      await reply(decodeBase64url(cached.response));
      return;
    }
    try {
      checkFresh(request.unix_seconds, this.clock());
    } catch (e) {
      // Not cached: a stale request was never accepted, so it must not pin an answer.
      await reply(this.#response(request, hash, { error: errorBody(e) }));
      return;
    }

    let outcome: { result: unknown } | { error: { code: string; message: string } };
    try {
      outcome = { result: await this.#act(pairing, request) };
    } catch (e) {
      this.log(`request ${request.body.kind} from ${pairing.computerName} failed: ${describe(e)}`);
      outcome = { error: errorBody(e) };
    }
    const plain = this.#response(request, hash, outcome);
    await this.#remember(request.request_id, hash, plain);
    await reply(plain);
    if (request.body.kind === 'unpair') {
      await this.keystore.update((s) => {
        s.pairings = s.pairings.filter((p) => p.id !== pairing.id);
      });
      this.log(`unpaired from ${pairing.computerName}`);
    }
  }

  async #act(pairing: StoredPairing, request: RequestMessage): Promise<unknown> {
    const body = request.body;
    switch (body.kind) {
      case 'pair_hello':
      case 'me':
        return deviceInfo(this.keystore.state);
      case 'unpair':
        return {};
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

  async #remember(requestId: string, hash: string, plain: Uint8Array): Promise<void> {
    const now = this.clock();
    await this.keystore.update((s) => {
      s.replay = s.replay.filter((r) => now - r.at < REPLAY_CACHE_SECONDS);
      s.replay.push({ requestId, requestHash: hash, response: encodeBase64url(plain), at: now });
    });
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
