/**
 * The web authenticator's protocol side (PROTOCOL.md §4 steps 2 and 4, §5 requests), built on
 * the same pure src/protocol module as `latch device`. Browser-only (IndexedDB, WebCrypto).
 *
 * What it answers today: pair_hello, me and unpair. ssh_sign and sign_message get an honest
 * `unsupported_request` error until the request cards (Approve/Deny) exist; see docs/WEB.md.
 */
import { LatchError, isLatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { checkCode } from '../protocol/check-code.js';
import { boxMessageRandom, envelopeKind, openBoxedMessage, sealPairingOffer } from '../protocol/envelope.js';
import { checkFresh, encodeMessage, newRequestId, nowSeconds, parseMessage, requestHash, type DeviceInfo, type RequestMessage } from '../protocol/messages.js';
import type { PairingLink } from '../protocol/pairing-link.js';
import { validateName } from '../protocol/pairing-link.js';
import { PROTOCOL_VERSION, REPLAY_CACHE_SECONDS, TIMEOUT_PAIR_SECONDS } from '../protocol/protocol-constants.js';
import { queueIdFromPublicKey, type QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import { RelayClient } from '../transport/relay-client.js';
import type { ReplayEntry, StoredPairing } from '../authenticator/authenticator-state.js';
import { generateWebSshKey, webSshKeyInfo } from './web-keys.js';
import type { WebDevice, WebStore } from './web-store.js';

export type Log = (line: string) => void;

export const PAIRING_TAKEN_MESSAGE =
  'another authenticator already paired with this link; if that was not you, run `latch pair` again on the computer and compare the check codes';

/** This page load's id: marks replay claims, like the pid does for `latch device`. */
const OWNER = Math.random().toString(36).slice(2);
/** A claim by another tab/page load older than this, still unanswered, is treated as interrupted. */
const CLAIM_BUSY_SECONDS = 60;

/** Load the device record, creating it (and its non-extractable SSH key) on first use. */
export async function loadOrCreateDevice(sodium: Sodium, store: WebStore, defaultName: string): Promise<WebDevice> {
  const existing = await store.get('device');
  if (existing) return existing;
  const now = nowSeconds();
  const device: WebDevice = { v: 1, deviceId: newRequestId(sodium), name: validateName(defaultName, 'device name'), createdAt: now, sshKeys: [await generateWebSshKey('ssh', now)] };
  // Two tabs opening at once: the first write wins, the other adopts it.
  return store.transact('device', (d) => (d ? { value: d } : { write: device, value: device }));
}

export function webDeviceInfo(device: WebDevice): DeviceInfo {
  return { name: device.name, device_id: device.deviceId, ssh_keys: device.sshKeys.map(webSshKeyInfo) };
}

export function queueKeyOf(p: StoredPairing): QueueKeyPair {
  return { publicKey: decodeBase64url(p.queuePublicKey), secretKey: decodeBase64url(p.queueSecretKey) };
}

type Claim = { kind: 'claimed' | 'mismatch' | 'busy' | 'stale' | 'interrupted' } | { kind: 'cached'; response: string };

function keepReplayEntry(r: ReplayEntry, now: number): boolean {
  const anchor = Math.max(r.at, r.requestSeconds ?? r.at);
  return now - anchor <= REPLAY_CACHE_SECONDS;
}

function errorBody(e: unknown): { code: string; message: string } {
  if (isLatchError(e)) return { code: e.code, message: e.message };
  return { code: 'internal_error', message: 'the authenticator could not complete the request' };
}

function describe(e: unknown): string {
  if (isLatchError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** PROTOCOL.md §5 for the browser: open, check, claim in IndexedDB (replay cache), act, answer. */
export class WebRequestHandler {
  constructor(
    private readonly sodium: Sodium,
    private readonly store: WebStore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
  ) {}

  async handle(pairing: StoredPairing, envelope: Uint8Array, send: (env: Uint8Array) => Promise<void>): Promise<void> {
    const computerPk = decodeBase64url(pairing.computerPublicKey);
    const sessionSk = decodeBase64url(pairing.sessionSecretKey);
    let bytes: Uint8Array;
    try {
      if (envelopeKind(envelope) !== 'boxed') throw new LatchError('bad_message', 'expected a boxed envelope');
      bytes = openBoxedMessage(this.sodium, envelope, computerPk, sessionSk);
    } catch (e) {
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
    const reply = (plain: Uint8Array): Promise<void> => send(boxMessageRandom(this.sodium, plain, computerPk, sessionSk));
    const respond = (outcome: { result: unknown } | { error: { code: string; message: string } }): Uint8Array =>
      encodeMessage({ v: PROTOCOL_VERSION, type: 'response', request_id: request.request_id, request_hash: hash, unix_seconds: this.clock(), ...outcome } as Parameters<typeof encodeMessage>[0]);

    const now = this.clock();
    let staleError: unknown;
    try {
      checkFresh(request.unix_seconds, now);
    } catch (e) {
      staleError = e;
    }
    const claim = await this.store.transact('replay', (list): { write?: ReplayEntry[]; value: Claim } => {
      const replay = (list ?? []).filter((r) => keepReplayEntry(r, now));
      const c = replay.find((r) => r.requestId === request.request_id);
      if (c) {
        if (c.requestHash !== hash) return { write: replay, value: { kind: 'mismatch' } };
        if (c.response !== '') return { write: replay, value: { kind: 'cached', response: c.response } };
        const owner = (c as ReplayEntry & { owner?: string }).owner;
        if (owner === OWNER || now - c.at < CLAIM_BUSY_SECONDS) return { write: replay, value: { kind: 'busy' } };
        return { write: replay, value: { kind: 'interrupted' } };
      }
      if (staleError !== undefined) return { write: replay, value: { kind: 'stale' } };
      replay.push({ requestId: request.request_id, requestHash: hash, response: '', at: now, requestSeconds: request.unix_seconds, owner: OWNER } as ReplayEntry);
      return { write: replay, value: { kind: 'claimed' } };
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
        await reply(respond({ error: errorBody(staleError) }));
        return;
      case 'interrupted': {
        const plain = respond({ error: { code: 'request_interrupted', message: 'the authenticator stopped while handling this request; try again' } });
        await this.#finish(request, hash, plain, pairing, false);
        await reply(plain);
        return;
      }
      case 'claimed':
        break;
    }
    let outcome: { result: unknown } | { error: { code: string; message: string } };
    try {
      outcome = { result: await this.#act(request) };
    } catch (e) {
      this.log(`request ${request.body.kind} from ${pairing.computerName} failed: ${describe(e)}`);
      outcome = { error: errorBody(e) };
    }
    const plain = respond(outcome);
    await this.#finish(request, hash, plain, pairing, request.body.kind === 'unpair' && 'result' in outcome);
    await reply(plain);
  }

  async #act(request: RequestMessage): Promise<unknown> {
    switch (request.body.kind) {
      case 'pair_hello':
      case 'me': {
        const device = await this.store.get('device');
        if (!device) throw new LatchError('not_initialised', 'the web authenticator has no keys yet');
        return webDeviceInfo(device);
      }
      case 'unpair':
        return {};
      default:
        throw new LatchError('unsupported_request', `the web authenticator cannot answer ${request.body.kind} requests yet; use \`latch device run\``);
    }
  }

  async #finish(request: RequestMessage, hash: string, plain: Uint8Array, pairing: StoredPairing, removePairing: boolean): Promise<void> {
    await this.store.transact('replay', (list) => {
      const replay = list ?? [];
      const entry = replay.find((r) => r.requestId === request.request_id && r.requestHash === hash);
      if (entry) entry.response = encodeBase64url(plain);
      else replay.push({ requestId: request.request_id, requestHash: hash, response: encodeBase64url(plain), at: this.clock(), requestSeconds: request.unix_seconds });
      return { write: replay, value: undefined };
    });
    if (removePairing) {
      await this.store.transact('pairings', (list) => ({ write: (list ?? []).filter((p) => p.id !== pairing.id), value: undefined }));
    }
  }
}

/** Steps 2 and 4 of pairing (PROTOCOL.md §4), as `latch device pair` does them. */
export async function pairWithLink(opts: {
  sodium: Sodium;
  store: WebStore;
  link: PairingLink;
  relay?: RelayClient;
  log: Log;
  onCheckCode: (code: string) => void;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}): Promise<StoredPairing> {
  const { sodium, store, link, log } = opts;
  const relay = opts.relay ?? new RelayClient({ url: link.relayUrl });
  const session = sodium.crypto_box_keypair();
  const queue = sodium.crypto_sign_keypair();
  const queueKey = { publicKey: queue.publicKey, secretKey: queue.privateKey };
  const queueId = queueIdFromPublicKey(sodium, queue.publicKey);
  opts.onCheckCode(checkCode(sodium, link.computerPublicKey, session.publicKey));
  try {
    await relay.send(link.queueId, sealPairingOffer(sodium, { authenticatorPublicKey: session.publicKey, authenticatorQueueId: queueId }, link.computerPublicKey));
  } catch (e) {
    if (isLatchError(e, 'queue_closed')) throw new LatchError('pairing_taken', PAIRING_TAKEN_MESSAGE);
    throw e;
  }
  const timeoutSeconds = opts.timeoutSeconds ?? TIMEOUT_PAIR_SECONDS;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const timer = setTimeout(() => abort.abort(), timeoutSeconds * 1000);
  try {
    for await (const message of relay.inbox(queueKey, { signal: abort.signal })) {
      let parsed;
      try {
        parsed = parseMessage(openBoxedMessage(sodium, message.body, link.computerPublicKey, session.privateKey));
      } catch (e) {
        log(`ignored a message that is not from the computer: ${describe(e)}`);
        await relay.ack(queueKey, [message.id]);
        continue;
      }
      if (parsed.type === 'pair_reject') {
        await relay.ack(queueKey, [message.id]);
        throw new LatchError('pairing_taken', PAIRING_TAKEN_MESSAGE);
      }
      if (parsed.type !== 'request' || parsed.body.kind !== 'pair_hello') {
        log(`ignored a ${parsed.type} message while pairing`);
        await relay.ack(queueKey, [message.id]);
        continue;
      }
      checkFresh(parsed.unix_seconds, nowSeconds());
      const pairing: StoredPairing = {
        id: queueId,
        computerName: parsed.body.name,
        computerPublicKey: encodeBase64url(link.computerPublicKey),
        computerQueue: parsed.body.computer_queue,
        relayUrl: link.relayUrl,
        sessionPublicKey: encodeBase64url(session.publicKey),
        sessionSecretKey: encodeBase64url(session.privateKey),
        queuePublicKey: encodeBase64url(queue.publicKey),
        queueSecretKey: encodeBase64url(queue.privateKey),
        pairedAt: nowSeconds(),
      };
      // Store first, then answer (as `latch device pair` does).
      await store.transact('pairings', (list) => ({ write: [...(list ?? []), pairing], value: undefined }));
      const handler = new WebRequestHandler(sodium, store, log);
      await handler.handle(pairing, message.body, (env) => relay.send(pairing.computerQueue, env).then(() => undefined));
      await relay.ack(queueKey, [message.id]);
      return pairing;
    }
    if (opts.signal?.aborted) throw new LatchError('pairing_cancelled', 'pairing was cancelled');
    throw new LatchError('pairing_timeout', `the computer did not answer within ${timeoutSeconds} s; is \`latch pair\` still waiting?`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    abort.abort();
  }
}

/**
 * Answer requests for every stored pairing while the page is open: one WebSocket per relay,
 * and queued messages are caught up on when the page opens again (the relay keeps them until acked).
 */
export async function serveRequests(opts: {
  sodium: Sodium;
  store: WebStore;
  log: Log;
  signal: AbortSignal;
  onStatus?: (s: 'connected' | 'disconnected') => void;
  onHandled?: (pairing: StoredPairing) => void;
}): Promise<void> {
  const { sodium, store, log } = opts;
  const pairings = (await store.get('pairings')) ?? [];
  const byRelay = new Map<string, StoredPairing[]>();
  for (const p of pairings) byRelay.set(p.relayUrl, [...(byRelay.get(p.relayUrl) ?? []), p]);
  const handler = new WebRequestHandler(sodium, store, log);
  await Promise.all(
    [...byRelay].map(async ([url, list]) => {
      const relay = new RelayClient({ url });
      const byQueue = new Map(list.map((p) => [p.id, p]));
      try {
        for await (const { queueId, message } of relay.inboxes(list.map(queueKeyOf), { signal: opts.signal, onStatus: opts.onStatus })) {
          const pairing = byQueue.get(queueId);
          if (!pairing) continue;
          try {
            await handler.handle(pairing, message.body, (env) => relay.send(pairing.computerQueue, env).then(() => undefined));
            await relay.ack(queueKeyOf(pairing), [message.id]);
            opts.onHandled?.(pairing);
          } catch (e) {
            log(`could not answer ${pairing.computerName}: ${describe(e)}`);
          }
        }
      } catch (e) {
        if (!opts.signal.aborted) log(`inbox for ${url} stopped: ${describe(e)}`);
      }
    }),
  );
}
