/**
 * The web authenticator's protocol side (PROTOCOL.md §4 steps 2 and 4, §5 requests), built on
 * the same pure src/protocol module as `latch device`. Browser-only (IndexedDB, WebCrypto).
 *
 * It answers pair_hello, me and unpair, and ssh_sign and sign_message through the same review
 * and policy core as `latch device run` (ssh-sign-core.ts), asking the page's Approver (the
 * request cards); without an Approver every signature is denied.
 */
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url } from '../protocol/base64url.js';
import { newRequestId, nowSeconds, type DeviceInfo } from '../protocol/messages.js';
import type { PairingLink } from '../protocol/pairing-link.js';
import { validateName } from '../protocol/pairing-link.js';
import { TIMEOUT_PAIR_SECONDS } from '../protocol/protocol-constants.js';
import type { QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import { RelayClient } from '../transport/relay-client.js';
import type { ReplayEntry, StoredPairing } from '../authenticator/authenticator-state.js';
import { actOn, describe, handleRequest, type Handled, type Log, type RequestStore, type Send } from '../authenticator/request-core.js';
import { pairAsAuthenticator } from '../authenticator/pairing-steps.js';
import { SshSignCore } from '../authenticator/ssh-sign-core.js';
import { denyAll, type Approver } from '../authenticator/sign-review.js';
import { generateWebSshKey, webSshKeyInfo } from './web-keys.js';
import { addHistory } from './web-history.js';
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

/** PROTOCOL.md §5 for the browser: open, check, claim in IndexedDB (replay cache), act, answer. */
export class WebRequestHandler {
  readonly #ssh: SshSignCore<WebSshKey>;

  constructor(
    private readonly sodium: Sodium,
    private readonly store: WebStore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
    /** Who approves signatures (the request cards); without one every signature is denied. */
    opts: { approver?: Approver } = {},
  ) {
    this.#ssh = new SshSignCore<WebSshKey>({
      store: webSshSignStore(store),
      approver: opts.approver ?? denyAll,
      log,
      clock,
      // Every outcome goes to the History screen, approvals by a policy (no card) included.
      onOutcome: (o) => addHistory(store, { at: clock(), kind: o.kind, title: o.title, from: o.from, outcome: o.outcome, ...(o.policyId ? { pin: { policy: o.policyId } } : {}) }),
    });
  }

  /** IndexedDB readwrite transactions are the browser's keystore lock (web-store.ts). */
  readonly #store: RequestStore = {
    claim: (decide) =>
      this.store.transact('replay', (list) => {
        const { replay, write, claim } = decide(list ?? []);
        return write ? { write: replay, value: claim } : { value: claim };
      }),
    // One transaction over all records: an unpair that was answered is applied (as the keystore
    // does), with that computer's timed approvals and opt-in.
    finish: (update, removePairing) =>
      this.store.transactMany(['replay', 'pairings', 'policies', 'allowUnverifiedFor'], (v) => ({
        write: {
          replay: update(v.replay ?? []),
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

  async handle(pairing: StoredPairing, envelope: Uint8Array, send: Send): Promise<Handled> {
    const live = await liveOwners();
    return handleRequest(pairing, envelope, send, {
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
          sshSign: (p, b, a, t) => this.#ssh.sshSign(p, b, a, t),
          signMessage: (p, b, a, t) => this.#ssh.signMessage(p, b, a, t),
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
}): Promise<void> {
  const { sodium, store, log } = opts;
  const pairings = (await store.get('pairings')) ?? [];
  const byRelay = new Map<string, StoredPairing[]>();
  for (const p of pairings) byRelay.set(p.relayUrl, [...(byRelay.get(p.relayUrl) ?? []), p]);
  const handler = new WebRequestHandler(sodium, store, log, nowSeconds, opts.approver ? { approver: opts.approver } : {});
  await Promise.all(
    [...byRelay].map(async ([url, list]) => {
      const relay = new RelayClient({ url });
      const byQueue = new Map(list.map((p) => [p.id, p]));
      // Requests are handled side by side (a page can show several cards), each pairing in its
      // own lanes (web-request-scheduler.ts), so one computer's flood never holds up another's
      // requests, and a `latch status` is answered at once while cards wait. The replay claim
      // (§5.5) keeps a redelivered request from running twice; each message is acked after its answer.
      const scheduler = new FairScheduler(nowSeconds);
      try {
        for await (const { queueId, message } of relay.inboxes(list.map(queueKeyOf), {
          signal: opts.signal,
          onStatus: opts.onStatus,
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
              const handled = await handler.handle(pairing, message.body, (env) => relay.send(pairing.computerQueue, env).then(() => undefined));
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
