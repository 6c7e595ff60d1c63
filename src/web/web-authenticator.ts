/**
 * The web authenticator's protocol side (PROTOCOL.md §4 steps 2 and 4, §5 requests), built on
 * the same pure src/protocol module as `latch device`. Browser-only (IndexedDB, WebCrypto).
 *
 * It answers pair_hello, me and unpair, ssh_sign and sign_message through the same review
 * and policy core as `latch device run` (ssh-sign-core.ts), and webauthn_create and webauthn_get
 * (issue 11) through the same WebauthnCore (webauthn-core.ts) over its IndexedDB passkeys
 * (web-passkey-store.ts), asking the page's Approver (the request cards); without an Approver
 * every signature is denied.
 */
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url } from '../protocol/base64url.js';
import { newRequestId, nowSeconds, type DeviceInfo } from '../protocol/messages.js';
import type { PairingLink } from '../protocol/pairing-link.js';
import { validateName } from '../protocol/pairing-link.js';
import { ACK_EXTENSION_SECONDS, TIMEOUT_PAIR_SECONDS } from '../protocol/protocol-constants.js';
import type { QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import { RelayClient } from '../transport/relay-client.js';
import type { ReplayEntry, StoredPairing } from '../authenticator/authenticator-state.js';
import { actOn, describe, handleRequest, keepReplayEntry, type Handled, type Log, type RequestStore, type Send } from '../authenticator/request-core.js';
import { pairAsAuthenticator } from '../authenticator/pairing-steps.js';
import { SshSignCore, type SignOutcome } from '../authenticator/ssh-sign-core.js';
import { denyAll, type Approver } from '../authenticator/sign-review.js';
import { WebauthnCore } from '../authenticator/webauthn-core.js';
import { webPasskeyStore } from './web-passkey-store.js';
import { generateWebSshKey, webSshKeyInfo } from './web-keys.js';
import { addHistory, deliveryOutcome, settleDelivery, type DeliveryState, type HistoryEntry } from './web-history.js';
import { RelayWake, deliverAnswer, isDeliveryAbandoned } from './web-answer-delivery.js';
import { webSshSignStore } from './web-ssh-store.js';
import { FairScheduler, peekRequest } from './web-request-scheduler.js';
import type { WebDevice, WebSshKey, WebStore } from './web-store.js';

export { PAIRING_TAKEN_MESSAGE } from '../authenticator/pairing-steps.js';
export type { Log } from '../authenticator/request-core.js';

/** This page load's id: marks replay claims, like the pid does for `latch device`. */
export const OWNER = Math.random().toString(36).slice(2);
/**
 * Without Web Locks: a claim by another tab/page load older than this, still unanswered, is
 * treated as interrupted. Longer than any card can wait (ACK_EXTENSION_SECONDS after an ack that
 * may itself come late), so a live tab's claim is never declared dead.
 */
export const CLAIM_BUSY_SECONDS = 180;
/** Web Lock held for this page load's whole life: other tabs see it while we live, never after. */
const OWNER_LOCK_PREFIX = 'latch-page-';
const locks: LockManager | undefined = typeof navigator !== 'undefined' ? navigator.locks : undefined;
void locks?.request(OWNER_LOCK_PREFIX + OWNER, () => new Promise<never>(() => undefined)).catch(() => undefined);

/** The page loads alive now (by their held Web Lock), or undefined where the browser has no Web Locks. */
export async function liveOwners(): Promise<Set<string> | undefined> {
  if (!locks) return undefined;
  try {
    const { held = [] } = await locks.query();
    return new Set(held.flatMap((l) => (l.name?.startsWith(OWNER_LOCK_PREFIX) ? [l.name.slice(OWNER_LOCK_PREFIX.length)] : [])));
  } catch {
    return undefined;
  }
}

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

/**
 * How the page sends an answer (web-answer-delivery.ts): 'sent' at the first try, 'late' after
 * retries; `onUndelivered` is called once, when the first try fails and retries begin.
 */
export type SendAnswer = (envelope: Uint8Array, onUndelivered: (e: Error) => Promise<void>) => Promise<'sent' | 'late'>;

/** Where an answer's delivery stands, for the status line: the outcomes it carries (none for a cached replay). */
export interface DeliveryEvent {
  /** 'sent': delivered at the first try; else as History's DeliveryState. */
  state: DeliveryState | 'sent';
  outcomes: readonly SignOutcome[];
  error?: Error;
}

/** PROTOCOL.md §5 for the browser: open, check, claim in IndexedDB (replay cache), act, answer. */
export class WebRequestHandler {
  readonly #approver: Approver;
  readonly #onDelivery: ((e: DeliveryEvent) => void) | undefined;

  constructor(
    private readonly sodium: Sodium,
    private readonly store: WebStore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
    /** Who approves signatures (the request cards); without one every signature is denied. */
    opts: { approver?: Approver; onDelivery?: (e: DeliveryEvent) => void } = {},
  ) {
    this.#approver = opts.approver ?? denyAll;
    this.#onDelivery = opts.onDelivery;
  }

  /** One review core per request, so its outcomes are known to be this request's (History waits for delivery). */
  #core(onOutcome: (o: SignOutcome) => void): SshSignCore<WebSshKey> {
    return new SshSignCore<WebSshKey>({ store: webSshSignStore(this.store), approver: this.#approver, log: this.log, clock: this.clock, onOutcome });
  }

  /**
   * The shared WebAuthn core over this browser's passkeys, for one request. Its answer reaches
   * History like an SSH one: the card's headline and the person's answer, once delivered.
   */
  #webauthn(onOutcome: (o: SignOutcome) => void): WebauthnCore {
    const inner = this.#approver;
    const approver: Approver = {
      interactive: inner.interactive,
      ask: async (review) => {
        const d = await inner.ask(review);
        onOutcome({ kind: 'webauthn', title: review.lines[0] ?? 'Passkey request', from: review.computerName, outcome: d.kind === 'deny' ? (d.anotherKey ? 'left to another key' : `denied${d.reason ? ` (${d.reason})` : ''}`) : 'approved once' });
        return d;
      },
    };
    return new WebauthnCore({ store: webPasskeyStore(this.store, this.clock), approver, log: this.log, clock: this.clock });
  }

  #entry(o: SignOutcome, at: number): HistoryEntry {
    return { at, kind: o.kind, title: o.title, from: o.from, outcome: o.outcome, ...(o.policyId ? { pin: { policy: o.policyId } } : {}) };
  }

  /**
   * The answer's send, with History (issue 16 §5 "Offline at the click"): every outcome (approvals
   * by a policy, refusals and denials included) reaches History once the computer has the answer;
   * if the relay cannot take it, History says "not delivered, retrying" at once and is updated
   * when it goes, or when the computer stops waiting. Without `sendAnswer` (pairing), one try.
   */
  async #answer(envelope: Uint8Array, requestId: string, decided: readonly SignOutcome[], send: Send, sendAnswer: SendAnswer | undefined): Promise<void> {
    const at = this.clock();
    const record = async (entries: HistoryEntry[]): Promise<void> => {
      for (const e of entries) await addHistory(this.store, e).catch((err: unknown) => this.log(`could not record the outcome: ${describe(err)}`));
    };
    if (!sendAnswer) {
      await send(envelope, { what: 'answer', requestId });
      await record(decided.map((o) => this.#entry(o, at)));
      return;
    }
    let undelivered = false;
    try {
      await sendAnswer(envelope, async (error) => {
        undelivered = true;
        this.log(`could not send the answer to ${requestId}: ${describe(error)}; retrying`);
        await record(decided.map((o) => ({ ...this.#entry(o, at), outcome: deliveryOutcome(o.outcome, 'retrying'), delivery: { requestId, decided: o.outcome, state: 'retrying' } })));
        this.#onDelivery?.({ state: 'retrying', outcomes: decided, error });
      });
    } catch (e) {
      // The inbox restarted: the next one re-sends the stored answer and settles the entry.
      if (isDeliveryAbandoned(e)) throw e;
      if (undelivered) {
        await settleDelivery(this.store, requestId, 'lost').catch(() => 0);
        this.#onDelivery?.({ state: 'lost', outcomes: decided, error: e as Error });
      } else await record(decided.map((o) => ({ ...this.#entry(o, at), outcome: `${o.outcome}, not delivered (${describe(e)})` })));
      throw e;
    }
    if (!undelivered) await record(decided.map((o) => this.#entry(o, at)));
    // Also settles the entries of an earlier try (another inbox, or a page closed mid-retry)
    // whose stored answer was just sent again from the replay cache.
    const earlier = await settleDelivery(this.store, requestId, 'late').catch(() => 0);
    if (undelivered || earlier) this.#onDelivery?.({ state: 'late', outcomes: decided });
    else if (decided.length) this.#onDelivery?.({ state: 'sent', outcomes: decided });
  }

  /** IndexedDB readwrite transactions are the browser's keystore lock (web-store.ts). */
  readonly #store: RequestStore = {
    // The replay cache is one IndexedDB record (web-store.ts): a claim that writes also drops
    // the expired entries, as the list is written whole anyway.
    claim: (requestId, now, decide) =>
      this.store.transact('replay', (list) => {
        const all = list ?? [];
        const kept = all.filter((r) => keepReplayEntry(r, now));
        const { put, claim } = decide(kept.find((r) => r.requestId === requestId));
        if (put !== undefined) return { write: [...kept.filter((r) => r.requestId !== requestId), put], value: claim };
        return kept.length !== all.length ? { write: kept, value: claim } : { value: claim };
      }),
    // One transaction over all records: an unpair that was answered is applied (as the keystore
    // does), with that computer's timed approvals and opt-in.
    finish: (requestId, update, removePairing) =>
      // The storage was cleared under an open card (issue 16 §5): there is no replay cache left to
      // keep the answer in, and no pairing for a redelivery to reach, so the answer (a card closed
      // then is a denial) is sent without one rather than left for the computer to time out on.
      this.store.lost !== undefined
        ? Promise.resolve()
        : this.store.transactMany(['replay', 'pairings', 'policies', 'allowUnverifiedFor'], (v) => ({
        write: {
          replay: withEntry(v.replay ?? [], requestId, update),
          ...(removePairing !== undefined
            ? {
                pairings: (v.pairings ?? []).filter((p) => p.id !== removePairing),
                policies: (v.policies ?? []).filter((p) => p.pairingId !== removePairing),
                allowUnverifiedFor: (v.allowUnverifiedFor ?? []).filter((id) => id !== removePairing),
              }
            : {}),
        },
        value: undefined,
      })),
  };

  /** `sendAnswer`: how the answer (not an ack) is sent until delivered; without it, one try with `send`. */
  async handle(pairing: StoredPairing, envelope: Uint8Array, send: Send, sendAnswer?: SendAnswer): Promise<Handled> {
    const live = await liveOwners();
    const outcomes: SignOutcome[] = [];
    const core = this.#core((o) => void outcomes.push(o));
    const webauthn = this.#webauthn((o) => void outcomes.push(o));
    const wrapped: Send = (env, info) => (info?.what === 'answer' ? this.#answer(env, info.requestId, outcomes.splice(0), send, sendAnswer) : send(env, info));
    return handleRequest(pairing, envelope, wrapped, {
      sodium: this.sodium,
      store: this.#store,
      log: this.log,
      clock: this.clock,
      claimMarker: { owner: OWNER } as Partial<ReplayEntry>,
      // Ours, or a page load that still holds its Web Lock: being worked on. Otherwise that page
      // died mid-action (closed, reloaded, killed). Without Web Locks, by the claim's age.
      unfinished: (c, now) => {
        const owner = (c as ReplayEntry & { owner?: string }).owner;
        if (owner === OWNER) return 'busy';
        if (live) return owner !== undefined && live.has(owner) ? 'busy' : 'interrupted';
        return now - c.at < CLAIM_BUSY_SECONDS ? 'busy' : 'interrupted';
      },
      act: (request, ack) =>
        actOn(pairing, request, ack, {
          deviceInfo: async () => {
            const device = await this.store.get('device');
            if (!device) throw new LatchError('not_initialised', 'the web authenticator has no keys yet');
            return webDeviceInfo(device);
          },
          sshSign: (p, b, a, t) => core.sshSign(p, b, a, t),
          signMessage: (p, b, a, t) => core.signMessage(p, b, a, t),
          // The timing gives the card the page's own deadline (PROTOCOL.md §5.9 "Deadline").
          webauthnCreate: (p, b, a, t) => webauthn.create(p, b, a, t),
          webauthnGet: (p, b, a, t) => webauthn.get(p, b, a, t),
        }),
    });
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
  return pairAsAuthenticator({
    sodium,
    link,
    relay: opts.relay ?? new RelayClient({ url: link.relayUrl }),
    timeoutSeconds: opts.timeoutSeconds ?? TIMEOUT_PAIR_SECONDS,
    log,
    onCheckCode: opts.onCheckCode,
    ...(opts.signal ? { signal: opts.signal } : {}),
    adopt: async (pairing, hello, send) => {
      await store.transact('pairings', (list) => ({ write: [...(list ?? []), pairing], value: undefined }));
      await new WebRequestHandler(sodium, store, log).handle(pairing, hello, send);
    },
  });
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
  /** Why a relay cannot be read (once per outage); the inbox keeps retrying. */
  onRelayError?: (url: string, e: Error) => void;
  /** A message arrived for, or a request removed, a pairing this inbox was started with: restart it. */
  onPairingGone?: (pairing: StoredPairing) => void;
  /** Who approves SSH logins and git signatures (the request cards). */
  approver?: Approver;
  /** An answer the relay could not take at once: retrying, delivered late, or given up (issue 16 §5). */
  onDelivery?: (e: DeliveryEvent) => void;
}): Promise<void> {
  const { sodium, store, log } = opts;
  const pairings = (await store.get('pairings')) ?? [];
  const byRelay = new Map<string, StoredPairing[]>();
  for (const p of pairings) byRelay.set(p.relayUrl, [...(byRelay.get(p.relayUrl) ?? []), p]);
  const handler = new WebRequestHandler(sodium, store, log, nowSeconds, { ...(opts.approver ? { approver: opts.approver } : {}), ...(opts.onDelivery ? { onDelivery: opts.onDelivery } : {}) });
  await Promise.all(
    [...byRelay].map(async ([url, list]) => {
      const relay = new RelayClient({ url });
      const byQueue = new Map(list.map((p) => [p.id, p]));
      // Requests are handled side by side (a page can show several cards), each pairing in its
      // own lanes (web-request-scheduler.ts), so one computer's flood never holds up another's
      // requests, and a `latch status` is answered at once while cards wait. The replay claim
      // (§5.5) keeps a redelivered request from running twice; each message is acked after its answer.
      const scheduler = new FairScheduler(nowSeconds);
      // Answers the relay could not take are sent again the moment this inbox reconnects.
      const wake = new RelayWake();
      try {
        for await (const { queueId, message } of relay.inboxes(list.map(queueKeyOf), {
          signal: opts.signal,
          // Every request is claimed by request_id first (§5.5): a repeat is answered from the cache.
          early: true,
          onStatus: (s) => {
            if (s === 'connected') wake.wake();
            opts.onStatus?.(s);
          },
          onError: (e) => {
            log(`cannot read ${url}: ${describe(e)}; retrying`);
            opts.onRelayError?.(url, e);
          },
        })) {
          const started = byQueue.get(queueId);
          if (!started) continue;
          const peeked = peekRequest(sodium, started, message.body);
          const job = async (): Promise<void> => {
            try {
              // The newest state, not the one this inbox started with: a pairing forgotten since
              // (unpaired here, by the computer, or in another tab) must never be answered again.
              const pairing = ((await store.get('pairings')) ?? []).find((p) => p.id === queueId);
              if (!pairing) {
                log(`ignored a message for "${started.computerName}", which is no longer paired`);
                await relay.ack(queueKeyOf(started), [message.id]).catch(() => undefined);
                opts.onPairingGone?.(started);
                return;
              }
              // The computer waits ACK_EXTENSION_SECONDS after an ack (or from now, for a request
              // answered without one): an answer is retried that long, then given up.
              let ackedAt = Date.now();
              const send: Send = (env, info) => {
                if (info?.what === 'ack') ackedAt = Date.now();
                return relay.send(pairing.computerQueue, env).then(() => undefined);
              };
              const sendAnswer: SendAnswer = (env, onUndelivered) =>
                deliverAnswer({ relay, queueId: pairing.computerQueue, body: env, wake, giveUpAt: ackedAt + ACK_EXTENSION_SECONDS * 1000, signal: opts.signal, onUndelivered });
              const handled = await handler.handle(pairing, message.body, send, sendAnswer);
              // 'busy': another live tab holds the claim; it acks, or a redelivery gets the answer.
              if (handled !== 'busy') await relay.ack(queueKeyOf(pairing), [message.id]);
              opts.onHandled?.(pairing);
              if (handled === 'unpaired') opts.onPairingGone?.(pairing);
            } catch (e) {
              log(`could not answer ${started.computerName}: ${describe(e)}`);
            }
          };
          // Its computer gave up long ago: no card, no answer (nobody waits for one).
          const drop = async (): Promise<void> => {
            log(`dropped a ${peeked?.kind ?? ''} request from "${started.computerName}" unseen: sent ${nowSeconds() - (peeked?.unixSeconds ?? 0)} s ago, its computer has given up`);
            await relay.ack(queueKeyOf(started), [message.id]).catch(() => undefined);
          };
          if (!scheduler.push(queueId, peeked, job, drop)) log(`too many requests waiting from "${started.computerName}": this one stays on the relay for later`);
        }
      } catch (e) {
        if (!opts.signal.aborted) log(`inbox for ${url} stopped: ${describe(e)}`);
      }
      await scheduler.idle();
    }),
  );
}

/** `list` with the entry of `requestId` replaced by what `update` makes of it (or added). */
function withEntry(list: ReplayEntry[], requestId: string, update: (entry: ReplayEntry | undefined) => ReplayEntry): ReplayEntry[] {
  const i = list.findIndex((r) => r.requestId === requestId);
  if (i < 0) return [...list, update(undefined)];
  return list.map((r, j) => (j === i ? update(r) : r));
}
