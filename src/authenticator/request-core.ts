/**
 * The authenticator's answer to one envelope (PROTOCOL.md §5), whatever stores its state:
 * open, check, claim the request id (§5.5), act, remember the answer, reply. `latch device`
 * (encrypted keystore file) and the web authenticator (IndexedDB) both run this; they differ
 * only in the RequestStore they pass and in how they tell a live claim from a dead one.
 * Browser-safe: no Node APIs.
 */
import { LatchError, isLatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { boxMessageRandom, boxMessageShared, envelopeKind, openBoxedMessage, openBoxedMessageShared } from '../protocol/envelope.js';
import type { BoxKeyCache } from './box-key-cache.js';
import { checkFresh, encodeMessage, parseMessage, requestHash, type DeviceInfo, type RequestMessage, type ResponseMessage, type SignMessageBody, type SignResult, type SshSignBody } from '../protocol/messages.js';
import { DEADLINE_GRACE_SECONDS, PROTOCOL_VERSION, REPLAY_CACHE_SECONDS, TIMEOUT_SIGN_SECONDS } from '../protocol/protocol-constants.js';
import type { Sodium } from '../protocol/sodium.js';
import type { ReplayEntry, StoredPairing } from './authenticator-state.js';
import type { WebauthnCreateBody, WebauthnCreateResult, WebauthnGetBody, WebauthnGetResult } from '../protocol/webauthn/webauthn-requests.js';

export type Log = (line: string) => void;
/**
 * What a send carries, for a sender that treats them apart (the web page retries an answer until
 * it is delivered, issue 16 §5, but never holds a card back for an ack): 'ack' (§5.3), or the
 * request's one answer (a result, an error or a cached replay).
 */
export interface SendInfo {
  what: 'ack' | 'answer';
  requestId: string;
}
export type Send = (envelope: Uint8Array, info?: SendInfo) => Promise<void>;
export type Outcome = { result: unknown } | { error: { code: string; message: string } };
export type Claim = { kind: 'claimed' | 'mismatch' | 'busy' | 'stale' | 'expired' | 'interrupted' } | { kind: 'cached'; response: string };

/**
 * Where the replay cache lives. Both methods must be atomic against other writers. They work on
 * the one entry of a request, so a claim costs the same with 5 or 500 cached answers (issue 9:
 * handing the whole list to each claim and answer cost 0.4 ms each at 150 entries).
 */
export interface RequestStore {
  /**
   * Run `decide` on the newest entry for `requestId`, or on undefined when there is none or it
   * has expired (keepReplayEntry at `now`), and store the entry it returns as `put`, if any. A
   * store may drop expired entries in the same write, or leave them to a later one.
   */
  claim(requestId: string, now: number, decide: (entry: ReplayEntry | undefined) => { put?: ReplayEntry; claim: Claim }): Promise<Claim>;
  /**
   * Store the answer in place of the claim (`update` gets the newest stored entry for the request,
   * if any, and returns the entry to keep) and, in the same write, forget `removePairing` if given.
   * A store that can calls `written` once the answer is where a crash of this process (kill -9)
   * cannot lose it, before making it durable against power loss, so the reply overlaps that sync
   * (issue 9); it is never called with `removePairing`. A store that cannot, calls nothing.
   */
  finish(requestId: string, update: (entry: ReplayEntry | undefined) => ReplayEntry, removePairing: string | undefined, written?: () => void): Promise<void>;
}

export interface HandleRequestOptions {
  sodium: Sodium;
  store: RequestStore;
  log: Log;
  clock: () => number;
  /** Fields that mark a claim as ours (a pid, a page-load id). */
  claimMarker: Partial<ReplayEntry>;
  /** A claim with no answer yet: someone is still working on it ('busy'), or died doing it. */
  unfinished: (entry: ReplayEntry, now: number) => 'busy' | 'interrupted';
  /** Do what the request asks. `ack` tells the computer a person is being asked. */
  act: (request: RequestMessage, ack: () => Promise<void>) => Promise<unknown>;
  /** Shared box keys kept across requests (issue 9); without it each envelope derives its own. */
  boxKeys?: BoxKeyCache;
}

/**
 * When a request was sent and how long its computer waits (PROTOCOL.md §5.2 `deadline`): what a
 * prompt needs to show the request's age and to withhold timed approvals from an old one.
 */
export interface RequestTiming {
  /** unix_seconds of the request (the computer's clock). */
  sentAt: number;
  /** How long the computer waits for an answer before any ack: deadline - unix_seconds, else the sign timeout. */
  timeoutSeconds: number;
}

export function requestTiming(request: RequestMessage): RequestTiming {
  return { sentAt: request.unix_seconds, timeoutSeconds: request.deadline !== undefined ? request.deadline - request.unix_seconds : TIMEOUT_SIGN_SECONDS };
}

/**
 * Whether a request arrived after its computer stopped waiting (§5.2): then nobody is there to
 * use the answer, and a prompt for it would be a ghost. A request without a deadline (an older
 * computer) is judged by the freshness window alone.
 */
export function pastDeadline(request: RequestMessage, now: number): boolean {
  return request.deadline !== undefined && now > request.deadline + DEADLINE_GRACE_SECONDS;
}

/** What an authenticator does for each request kind (PROTOCOL.md §5.6, §5.8): one table for both authenticators. */
export interface RequestActions {
  deviceInfo(): DeviceInfo | Promise<DeviceInfo>;
  sshSign(pairing: StoredPairing, body: SshSignBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult>;
  signMessage(pairing: StoredPairing, body: SignMessageBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult>;
  /** WebAuthn (issue 11, PROTOCOL.md §5.9); an authenticator without them answers `unsupported_request`. */
  webauthnCreate?(pairing: StoredPairing, body: WebauthnCreateBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<WebauthnCreateResult>;
  webauthnGet?(pairing: StoredPairing, body: WebauthnGetBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<WebauthnGetResult>;
}

/** Runs the action for `request`; `unpair` only answers here, its effect is applied with the answer (handleRequest). */
export async function actOn(pairing: StoredPairing, request: RequestMessage, ack: () => Promise<void>, actions: RequestActions): Promise<unknown> {
  const body = request.body;
  switch (body.kind) {
    case 'pair_hello':
    case 'me':
      return actions.deviceInfo();
    case 'unpair':
      return {};
    case 'ssh_sign':
      return actions.sshSign(pairing, body, ack, requestTiming(request));
    case 'sign_message':
      return actions.signMessage(pairing, body, ack, requestTiming(request));
    case 'webauthn_create':
      if (!actions.webauthnCreate) throw new LatchError('unsupported_request', 'this authenticator does not hold passkeys');
      return actions.webauthnCreate(pairing, body, ack, requestTiming(request));
    case 'webauthn_get':
      if (!actions.webauthnGet) throw new LatchError('unsupported_request', 'this authenticator does not hold passkeys');
      return actions.webauthnGet(pairing, body, ack, requestTiming(request));
    default: {
      const never: never = body;
      throw new LatchError('unsupported_request', `unsupported request ${String((never as { kind: string }).kind)}`);
    }
  }
}

/**
 * An entry is kept while its request could still be accepted as fresh, measured from the later
 * of the request's own time and its arrival, so a replay never outlives its cache entry.
 */
export function keepReplayEntry(r: ReplayEntry, now: number): boolean {
  return now - Math.max(r.at, r.requestSeconds ?? r.at) <= REPLAY_CACHE_SECONDS;
}

/** What a peer may learn of an error: its code and message, never a cause or a stack. */
export function errorBody(e: unknown): { code: string; message: string } {
  if (isLatchError(e)) return { code: e.code, message: e.message };
  return { code: 'internal_error', message: 'the authenticator could not complete the request' };
}

export function describe(e: unknown): string {
  if (isLatchError(e)) return `${e.code}: ${e.message}${e.cause ? ` (${String(e.cause)})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

/**
 * What the caller does with the relay message afterwards: 'done' = ack it; 'unpaired' = ack it,
 * and the pairing is now forgotten (stop serving it); 'busy' = leave it unacked, because another
 * handler (process, tab) still holds its claim: acking would drop the request if that handler
 * dies, while a redelivery later gets the cached answer or `request_interrupted` (§5.5).
 */
export type Handled = 'done' | 'unpaired' | 'busy';

/**
 * Handle one envelope from a pairing's inbox; answers go out through `send`. Never throws for
 * what a peer sent: bad input is logged and, where the request can be identified, answered with
 * an error response. Only local failures (storage, relay) reject.
 */
export async function handleRequest(pairing: StoredPairing, envelope: Uint8Array, send: Send, o: HandleRequestOptions): Promise<Handled> {
  const { sodium, log } = o;
  const computerPk = decodeBase64url(pairing.computerPublicKey);
  const sessionSk = decodeBase64url(pairing.sessionSecretKey);
  const boxKey = o.boxKeys?.get(pairing.computerPublicKey, pairing.sessionSecretKey);
  let bytes: Uint8Array;
  try {
    if (envelopeKind(envelope) !== 'boxed') throw new LatchError('bad_message', 'expected a boxed envelope');
    bytes = boxKey ? openBoxedMessageShared(sodium, envelope, boxKey) : openBoxedMessage(sodium, envelope, computerPk, sessionSk);
  } catch (e) {
    // Cannot tell who sent it, so there is nobody to answer (§4.2): log only.
    log(`dropped an envelope for ${pairing.computerName}: ${describe(e)}`);
    return 'done';
  }
  let request: RequestMessage;
  try {
    const msg = parseMessage(bytes);
    if (msg.type !== 'request') throw new LatchError('bad_message', `expected a request, got ${msg.type}`);
    request = msg;
  } catch (e) {
    log(`refused a malformed message from ${pairing.computerName}: ${describe(e)}`);
    return 'done';
  }
  const hash = requestHash(sodium, bytes);
  const reply = (plain: Uint8Array, what: SendInfo['what'] = 'answer'): Promise<void> =>
    send(boxKey ? boxMessageShared(sodium, plain, boxKey) : boxMessageRandom(sodium, plain, computerPk, sessionSk), { what, requestId: request.request_id });
  const respond = (outcome: Outcome): Uint8Array => {
    const msg: ResponseMessage = { v: PROTOCOL_VERSION, type: 'response', request_id: request.request_id, request_hash: hash, unix_seconds: o.clock(), ...outcome };
    return encodeMessage(msg);
  };
  const finish = (plain: Uint8Array, removePairing: boolean, written?: () => void): Promise<void> =>
    o.store.finish(
      request.request_id,
      (entry) =>
        entry !== undefined && entry.requestHash === hash
          ? { ...entry, response: encodeBase64url(plain) }
          : { requestId: request.request_id, requestHash: hash, response: encodeBase64url(plain), at: o.clock(), requestSeconds: request.unix_seconds },
      removePairing ? pairing.id : undefined,
      written,
    );
  /**
   * Remember the answer, then send it. The reply may leave once the answer is written (a kill -9
   * can no longer lose it) while the store still syncs it to disk (§5.5, issue 9). Not for unpair:
   * its effect must be durable before the computer hears it is done.
   */
  const finishAndReply = async (plain: Uint8Array, removePairing: boolean): Promise<void> => {
    let sent: Promise<void> | undefined;
    try {
      await finish(plain, removePairing, removePairing ? undefined : () => void (sent = reply(plain)));
    } catch (e) {
      sent?.catch(() => undefined); // the store's failure is the one reported
      throw e;
    }
    await (sent ?? reply(plain));
  };

  // Claim the id against the newest stored state, so two handlers sharing a store, or a
  // redelivery after a crash, never act twice (§5.5).
  const now = o.clock();
  let staleError: unknown;
  try {
    checkFresh(request.unix_seconds, now);
  } catch (e) {
    staleError = e;
  }
  const claim = await o.store.claim(request.request_id, now, (c) => {
    if (c) {
      if (c.requestHash !== hash) return { claim: { kind: 'mismatch' } };
      if (c.response !== '') return { claim: { kind: 'cached', response: c.response } };
      return { claim: { kind: o.unfinished(c, now) } };
    }
    // A stale request was never accepted, so it must not pin an answer: no claim.
    if (staleError !== undefined) return { claim: { kind: 'stale' } };
    // Nor one whose computer has stopped waiting: dropped before anyone sees it.
    if (pastDeadline(request, now)) return { claim: { kind: 'expired' } };
    const put: ReplayEntry = { ...o.claimMarker, requestId: request.request_id, requestHash: hash, response: '', at: now, requestSeconds: request.unix_seconds };
    return { put, claim: { kind: 'claimed' } };
  });
  switch (claim.kind) {
    case 'mismatch':
      log(`refused request ${request.request_id}: its id was used before for a different request`);
      return 'done';
    case 'busy':
      log(`request ${request.request_id} (${request.body.kind}) is already being handled`);
      return 'busy';
    case 'cached':
      log(`replayed request ${request.request_id} (${request.body.kind}) answered from cache`);
      await reply(decodeBase64url(claim.response));
      return 'done';
    case 'stale':
      // Say why locally: the computer only sees the code (its clock, or this one, is off).
      log(`refused request ${request.request_id} (${request.body.kind}) from ${pairing.computerName}: ${describe(staleError)}`);
      await reply(respond({ error: errorBody(staleError) }));
      return 'done';
    case 'expired':
      log(
        `dropped request ${request.request_id} (${request.body.kind}) from ${pairing.computerName} unseen: ` +
          `it arrived ${now - request.deadline!} s after its deadline, when the computer had stopped waiting`,
      );
      await reply(respond({ error: { code: 'request_expired', message: 'the request reached the authenticator after its deadline; it was not shown' } }));
      return 'done';
    case 'interrupted': {
      // Claimed by a handler that died mid-action: it may or may not have acted, so the only
      // safe answer is a refusal (never a second signature).
      log(`request ${request.request_id} (${request.body.kind}) was interrupted by a crash; refusing it`);
      const plain = respond({ error: { code: 'request_interrupted', message: 'the authenticator stopped while handling this request; try again' } });
      await finishAndReply(plain, false);
      return 'done';
    }
    case 'claimed':
      break;
  }

  const ack = (): Promise<void> =>
    reply(encodeMessage({ v: PROTOCOL_VERSION, type: 'ack', request_id: request.request_id, request_hash: hash, unix_seconds: o.clock() }), 'ack');
  let outcome: Outcome;
  try {
    outcome = { result: await o.act(request, ack) };
  } catch (e) {
    log(`request ${request.body.kind} from ${pairing.computerName} failed: ${describe(e)}`);
    outcome = { error: errorBody(e) };
  }
  const plain = respond(outcome);
  // The answer and its effect land in one write: an unpair that was answered is applied.
  const unpaired = request.body.kind === 'unpair' && 'result' in outcome;
  await finishAndReply(plain, unpaired);
  if (!unpaired) return 'done';
  log(`unpaired from ${pairing.computerName}`);
  return 'unpaired';
}
