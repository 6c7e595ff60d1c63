/**
 * Web Push for the web authenticator (issue 14, docs/WEB.md "Push"), shared by the page and the
 * service worker: subscribe with the relay's VAPID key and register the subscription for each
 * pairing's queue, signed with that queue's reader proof (PROTOCOL.md §3.9).
 *
 * One browser subscription is bound to one VAPID key (`applicationServerKey`), so it serves the
 * pairings whose relay has that key: the relay of the newest pairing. Pairings on a relay with
 * another key (another server) are reported as "not on push" and are heard while the app is open.
 */
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { RelayClient } from '../transport/relay-client.js';
import { decodeBase64urlLoose } from './web-push-keys.js';
import type { WebStore } from './web-store.js';
import type { StoredPairing } from '../authenticator/authenticator-state.js';

/** Posted by the service worker to open pages when the browser changed the subscription. */
export const PUSH_CHANGED_MESSAGE = 'latch-push-changed';

export type PushOffReason =
  /** No Push API, service worker or Notification here. */
  | 'unsupported'
  /** iOS/iPadOS Safari: Web Push exists only for an app added to the Home Screen (16.4+). */
  | 'ios-not-installed'
  /** The user (or the browser) blocked notifications for this site. */
  | 'denied'
  /** Not asked yet: press "Turn on notifications". */
  | 'not-asked'
  | 'no-pairing'
  /** The pairings' relay sends no pushes (`latch server` without --vapid-subject off loopback). */
  | 'relay-off'
  | 'failed';

export type PushState = { on: true; pairings: string[]; offFor: string[] } | { on: false; why: PushOffReason; detail?: string };

/** What the Computers screen says for each state. */
export function describePushState(s: PushState): string {
  if (s.on) return s.offFor.length ? `Push notifications: on, except for ${s.offFor.join(', ')} (another server)` : 'Push notifications: on';
  switch (s.why) {
    case 'unsupported':
      return 'Push notifications: off (this browser does not support them)';
    case 'ios-not-installed':
      return 'Push notifications: off (on iPhone and iPad, add Latch to the Home Screen first, then open it from there)';
    case 'denied':
      return 'Push notifications: off (notifications are blocked for this site in the browser settings)';
    case 'not-asked':
      return 'Push notifications: off (press "Turn on notifications")';
    case 'no-pairing':
      return 'Push notifications: off (no computer paired yet)';
    case 'relay-off':
      return 'Push notifications: off (the relay does not send them)';
    case 'failed':
      return `Push notifications: off (${s.detail ?? 'could not subscribe'})`;
  }
}

export interface PushEnv {
  serviceWorker?: ServiceWorkerContainer;
  userAgent: string;
  standalone: boolean;
  hasPushManager: boolean;
  notificationPermission: NotificationPermission | undefined;
}

function env(): PushEnv {
  const nav = globalThis.navigator as Navigator & { standalone?: boolean };
  const g = globalThis as { PushManager?: unknown; Notification?: { permission: NotificationPermission }; matchMedia?: (q: string) => MediaQueryList };
  return {
    ...(nav.serviceWorker ? { serviceWorker: nav.serviceWorker } : {}),
    userAgent: nav.userAgent,
    standalone: nav.standalone === true || g.matchMedia?.('(display-mode: standalone)').matches === true,
    hasPushManager: typeof g.PushManager === 'function',
    notificationPermission: g.Notification?.permission,
  };
}

/** Why push cannot work here at all, before asking anything. */
export function pushUnavailable(e = env()): 'unsupported' | 'ios-not-installed' | undefined {
  const ios = /iPad|iPhone|iPod/.test(e.userAgent) || (/Macintosh/.test(e.userAgent) && (globalThis.navigator?.maxTouchPoints ?? 0) > 1);
  if (ios && !e.standalone) return 'ios-not-installed';
  if (e.serviceWorker === undefined || !e.hasPushManager || e.notificationPermission === undefined) return 'unsupported';
  return undefined;
}

/**
 * Asks for permission (only when `ask`: call it straight from a click, browsers require a user
 * gesture), subscribes, and registers the subscription for every pairing with its relay.
 */
export async function syncPush(store: WebStore, opts: { ask: boolean; log: (line: string) => void }): Promise<PushState> {
  const e = env();
  const unavailable = pushUnavailable(e);
  if (unavailable) return { on: false, why: unavailable };
  let permission = e.notificationPermission!;
  if (permission === 'default' && opts.ask) permission = await Notification.requestPermission();
  if (permission === 'denied') return { on: false, why: 'denied' };
  if (permission !== 'granted') return { on: false, why: 'not-asked' };
  const reg = await e.serviceWorker!.ready;
  try {
    const sub = await subscribe(store, reg.pushManager, undefined, opts.log);
    return sub;
  } catch (err) {
    opts.log(`push: ${err instanceof Error ? err.message : String(err)}`);
    return { on: false, why: 'failed', detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Subscribes (reusing a subscription made with the same key) and registers it for the pairings
 * on relays with that key. `renewed`: the subscription the browser handed the service worker in
 * `pushsubscriptionchange`, if any.
 */
export async function subscribe(store: WebStore, pushManager: PushManager, renewed: PushSubscription | null | undefined, log: (line: string) => void): Promise<PushState> {
  const pairings = (await store.get('pairings')) ?? [];
  if (pairings.length === 0) return { on: false, why: 'no-pairing' };
  const keys = new Map<string, string | undefined>();
  for (const url of new Set(pairings.map((p) => p.relayUrl))) {
    keys.set(url, await new RelayClient({ url }).pushKey().catch((err: unknown) => (log(`push: relay ${url}: ${String(err)}`), undefined)));
  }
  // The newest pairing's relay decides the key, when it sends pushes; else any relay that does.
  const newest = [...pairings].reverse().find((p) => keys.get(p.relayUrl) !== undefined);
  if (newest === undefined) return { on: false, why: 'relay-off' };
  const key = keys.get(newest.relayUrl)!;
  let sub = renewed ?? (await pushManager.getSubscription());
  if (sub && !sameKey(sub, key)) {
    await sub.unsubscribe().catch(() => false);
    sub = null;
  }
  sub ??= await pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: decodeBase64url(key) as Uint8Array<ArrayBuffer> });
  const json = sub.toJSON();
  const reg = { endpoint: sub.endpoint, keys: { p256dh: normalise(json.keys?.p256dh), auth: normalise(json.keys?.auth) } };
  const on: StoredPairing[] = [];
  const offFor: string[] = [];
  for (const p of pairings) {
    if (keys.get(p.relayUrl) !== key) {
      offFor.push(p.computerName);
      continue;
    }
    const queue = { publicKey: decodeBase64url(p.queuePublicKey), secretKey: decodeBase64url(p.queueSecretKey) };
    try {
      if (await new RelayClient({ url: p.relayUrl }).registerPush(queue, reg)) on.push(p);
      else offFor.push(p.computerName);
    } catch (err) {
      log(`push: could not register for ${p.computerName}: ${err instanceof Error ? err.message : String(err)}`);
      offFor.push(p.computerName);
    }
  }
  if (on.length === 0) return { on: false, why: 'failed', detail: `the relay refused the subscription for ${offFor.join(', ')}` };
  return { on: true, pairings: on.map((p) => p.computerName), offFor };
}

function sameKey(sub: PushSubscription, key: string): boolean {
  const have = sub.options.applicationServerKey;
  return have !== null && have !== undefined && encodeBase64url(new Uint8Array(have)) === key;
}

/** Browsers hand out the subscription keys as base64url, some padded: the relay takes canonical unpadded base64url. */
function normalise(text: string | undefined): string {
  if (text === undefined) throw new Error('the browser gave a subscription without keys');
  return encodeBase64url(decodeBase64urlLoose(text));
}
