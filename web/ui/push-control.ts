/**
 * The page's push controls (issue 14): "Turn on notifications" on the Pair screen after pairing
 * and on the Computers screen (asks for permission from that click: browsers allow the prompt
 * only from a user gesture), the push state line on the Computers screen, and a re-check each
 * time the app opens or the service worker says the browser changed the subscription.
 */
import { PUSH_CHANGED_MESSAGE, describePushState, syncPush, type PushState } from '../../src/web/web-push.js';
import type { AppContext } from './app-context.js';
import { byId } from './dom.js';

let last: PushState | undefined;

function render(s: PushState): void {
  last = s;
  const status = byId('push-status');
  status.textContent = describePushState(s);
  status.dataset.push = s.on ? 'on' : s.why;
  document.body.dataset.push = s.on ? 'on' : 'off';
  // The button is no use when push is on, blocked, or impossible here.
  const offerable = !s.on && (s.why === 'not-asked' || s.why === 'failed' || s.why === 'no-pairing');
  for (const b of document.querySelectorAll<HTMLButtonElement>('.push-enable')) b.hidden = !offerable;
}

/**
 * The app is open, so its cards show every waiting request: the notifications that pointed here
 * have done their job (and one left behind would point at a request already answered).
 */
async function closeNotifications(): Promise<void> {
  const reg = await navigator.serviceWorker?.getRegistration();
  for (const n of (await reg?.getNotifications?.()) ?? []) n.close();
}

export async function recheckPush(ctx: AppContext, ask = false): Promise<PushState> {
  void closeNotifications().catch(() => undefined);
  const s = await syncPush(ctx.store, { ask, log: ctx.log }).catch((e: unknown): PushState => ({ on: false, why: 'failed', detail: e instanceof Error ? e.message : String(e) }));
  render(s);
  return s;
}

export function pushState(): PushState | undefined {
  return last;
}

export function setupPushControls(ctx: AppContext): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('.push-enable')) {
    b.addEventListener('click', () => {
      b.disabled = true;
      void recheckPush(ctx, true)
        .then((s) => ctx.say(describePushState(s)))
        .finally(() => (b.disabled = false));
    });
  }
  navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
    if (e.data === PUSH_CHANGED_MESSAGE) void recheckPush(ctx);
  });
}

/** After a pairing: offer the button on the Pair screen (the permission prompt needs its click). */
export function offerPushAfterPairing(ctx: AppContext): void {
  byId('pair-push').hidden = false;
  // Permission already granted: register the new pairing's queue at once, no click needed.
  void recheckPush(ctx);
}
