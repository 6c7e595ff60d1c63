/**
 * The service worker's push side (issue 14, docs/WEB.md "Push"), bundled by web/build.mjs into
 * sw-push.js and loaded by sw.js with importScripts, so the worker can open envelopes with the
 * same src/protocol code as the page.
 *
 * A push (PROTOCOL.md §3.9) carries {"v":1,"queue","id"[,"envelope"]}. The worker opens the
 * envelope with the pairing's keys in IndexedDB and shows ONE notification with the request's
 * one-line title (request-notice-title.ts), never more than its card shows. Every push shows a
 * notification, as `userVisibleOnly` requires; a payload it cannot read still says "a request
 * is waiting". Nothing is answered here: tapping opens /app/#requests, where the page reads the
 * queue and shows the card (docs/WEB.md says why an answer is never given from a notification).
 */
import { decodeBase64url } from '../src/protocol/base64url.js';
import { openBoxedMessage } from '../src/protocol/envelope.js';
import { parseMessage } from '../src/protocol/messages.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { requestNoticeTitle } from '../src/authenticator/request-notice-title.js';
import { WebStore } from '../src/web/web-store.js';
import { PUSH_CHANGED_MESSAGE, subscribe } from '../src/web/web-push.js';

interface PushEventLike extends Event {
  data: { json(): unknown; text(): string } | null;
  waitUntil(p: Promise<unknown>): void;
}
interface NotificationEventLike extends Event {
  notification: Notification & { data: unknown };
  waitUntil(p: Promise<unknown>): void;
}
interface WindowClientLike {
  url: string;
  postMessage(m: unknown): void;
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
}
interface WorkerScope {
  addEventListener(type: string, fn: (e: Event) => void): void;
  registration: ServiceWorkerRegistration;
  clients: {
    matchAll(o: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
  };
}
const worker = self as unknown as WorkerScope;

/** Which worker instance showed a notification: a test tells a woken worker from one that stayed up. */
const INSTANCE = Math.random().toString(36).slice(2);

interface PushPayload {
  queue?: string;
  id?: string;
  envelope?: string;
}

function readPayload(e: PushEventLike): PushPayload {
  try {
    const v = e.data?.json();
    return typeof v === 'object' && v !== null ? (v as PushPayload) : {};
  } catch {
    return {};
  }
}

async function notify(payload: PushPayload): Promise<void> {
  let title = 'A request is waiting in Latch';
  let body = 'Open the app to see it.';
  let requestId: string | undefined;
  const queue = typeof payload.queue === 'string' ? payload.queue : undefined;
  try {
    const store = await WebStore.open();
    const pairing = ((await store.get('pairings')) ?? []).find((p) => p.id === queue);
    if (pairing) {
      body = `from ${pairing.computerName}`;
      if (typeof payload.envelope === 'string') {
        const sodium = await sodiumReady();
        const msg = parseMessage(openBoxedMessage(sodium, decodeBase64url(payload.envelope), decodeBase64url(pairing.computerPublicKey), decodeBase64url(pairing.sessionSecretKey)));
        if (msg.type === 'request') {
          title = await requestNoticeTitle(msg.body, pairing.computerName);
          requestId = msg.request_id;
        }
      } else {
        title = `A request from ${pairing.computerName} is waiting`;
      }
    }
  } catch {
    // An envelope that does not open (or storage that is gone) still gets its notification,
    // without content: the card, if any, decides.
  }
  await worker.registration.showNotification(title, {
    body,
    // One notification per pairing: a newer request replaces the older one (as Topic does at the push service).
    tag: queue ?? 'latch',
    requireInteraction: true,
    data: { queue, requestId, instance: INSTANCE, shownAt: Date.now() },
  } as NotificationOptions);
}

// Which worker instance is running (the tests tell a woken worker from the one the page had).
worker.addEventListener('message', (e) => {
  const ev = e as MessageEvent & { source: { postMessage(m: unknown): void } | null };
  if (ev.data === 'latch-sw-instance') ev.source?.postMessage({ swInstance: INSTANCE });
});

/**
 * Pushes are shown in the order they arrived. Notifications share a tag per pairing, so the last
 * one shown wins; an envelope push takes longer to open (libsodium, IndexedDB) than a wake that
 * follows it, and run side by side the older request would replace the newer notice.
 */
let shown: Promise<void> = Promise.resolve();

worker.addEventListener('push', (e) => {
  const ev = e as PushEventLike;
  const payload = readPayload(ev);
  const mine = shown.then(() => notify(payload));
  shown = mine.catch(() => undefined); // one that fails does not hold back the next
  ev.waitUntil(mine);
});

worker.addEventListener('notificationclick', (e) => {
  const ev = e as NotificationEventLike;
  ev.notification.close();
  ev.waitUntil(
    (async () => {
      const url = new URL('./#requests', worker.registration.scope).href;
      const open = await worker.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const mine = open.find((c) => c.url.startsWith(worker.registration.scope));
      if (mine) {
        await mine.navigate(url).catch(() => undefined);
        await mine.focus();
        return;
      }
      await worker.clients.openWindow(url);
    })(),
  );
});

// The browser renewed (or dropped) the subscription: subscribe again with the relay's key and
// register the new one for every pairing (the worker holds the queue keys, so it can sign the
// reader proofs itself, with no page open); open pages are told, to show the new state. A page
// that opens later re-checks anyway (web/app.ts).
worker.addEventListener('pushsubscriptionchange', (e) => {
  const ev = e as PushEventLike & { newSubscription?: PushSubscription | null };
  ev.waitUntil(
    (async () => {
      const store = await WebStore.open();
      await subscribe(store, worker.registration.pushManager, ev.newSubscription ?? null, (l) => console.info(`[latch sw] ${l}`)).catch(() => undefined);
      for (const c of await worker.clients.matchAll({ type: 'window', includeUncontrolled: true })) c.postMessage(PUSH_CHANGED_MESSAGE);
    })(),
  );
});
