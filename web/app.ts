/**
 * The web authenticator's page (issue 5): a shell with one screen per task (hash routing),
 * request cards shown above whatever screen is open, and the relay inboxes served while the
 * page is open. Bundled by web/build.mjs with esbuild.
 */
import { sodiumReady } from '../src/protocol/sodium.js';
import { WebStore, type WebDevice } from '../src/web/web-store.js';
import { CLAIM_BUSY_SECONDS, OWNER, liveOwners, loadOrCreateDevice, serveRequests } from '../src/web/web-authenticator.js';
import { cardClosed, cardOpened, onCardsChanged, openElsewhere, recordInterruptedCards } from '../src/web/web-open-cards.js';
import { errorText, type AppContext } from './ui/app-context.js';
import { pairingSignal, withdrawRemovedPairings } from './ui/pairing-signals.js';
import { CardApprover } from './ui/ssh-approver.js';
import { closeAllCards, settledSays } from './ui/request-cards.js';
import { deliveryOutcome } from '../src/web/web-history.js';
import { byId, h } from './ui/dom.js';
import { cleanLine } from '../src/authenticator/sign-review.js';
import { setupPairScreen } from './screens/pair-screen.js';
import { recheckPush, setupPushControls } from './ui/push-control.js';
import { renderComputers } from './screens/computers-screen.js';
import { renderPolicies } from './screens/policies-screen.js';
import { renderHistory } from './screens/history-screen.js';
import { renderKeys } from './screens/keys-screen.js';
import { renderAccount } from './screens/account-screen.js';
import { restartCustodyNotices, stopCustodyNotices } from './ui/custody-notices.js';
import { watchShellVersion } from './ui/shell-version.js';

const capitalise = (t: string): string => t.charAt(0).toUpperCase() + t.slice(1);

const SCREENS = ['requests', 'pair', 'computers', 'policies', 'history', 'account', 'keys'] as const;
const statusEl = byId('status');
const errorEl = byId('error');
const inboxEl = byId('inbox');
const log = (line: string): void => console.info(`[latch] ${line}`);

function show(screen: string): void {
  const name = (SCREENS as readonly string[]).includes(screen) ? screen : 'requests';
  // Only the screens: <body> carries data-screen too (for styling) and must never be hidden.
  for (const s of document.querySelectorAll<HTMLElement>('main [data-screen]')) s.hidden = s.dataset.screen !== name;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.hash === `#${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.screen = name;
}

async function main(): Promise<void> {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('./sw.js').catch((e: unknown) => log(`service worker not registered: ${errorText(e)}`));
    watchShellVersion();
  }
  // Ask the browser not to evict the keys under storage pressure (best effort).
  void navigator.storage?.persist?.().catch(() => false);
  const [sodium, store] = await Promise.all([sodiumReady(), WebStore.open()]);
  let device: WebDevice = await loadOrCreateDevice(sodium, store, 'Web authenticator');

  let serving: AbortController | undefined;
  const approver = new CardApprover({
    signalFor: pairingSignal,
    pairings: async () => (await store.get('pairings')) ?? [],
    remember: {
      opened: (c) => cardOpened(store, { ...c, owner: OWNER }).catch((e: unknown) => log(`could not remember an open card: ${errorText(e)}`)),
      closed: (id) => cardClosed(store, id).catch(() => undefined),
    },
    stillPaired: async (id) => ((await store.get('pairings')) ?? []).some((p) => p.id === id),
  });
  // Other tabs of this app: a pairing made or forgotten there restarts our inbox too.
  const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('latch-pairings') : undefined;
  const restart = async (tell: boolean): Promise<void> => {
    const ids = new Set(((await store.get('pairings')) ?? []).map((p) => p.id));
    withdrawRemovedPairings(ids);
    if (tell) tabs?.postMessage('changed');
    startInbox();
  };
  const ctx: AppContext = {
    sodium,
    store,
    log,
    device: () => device,
    setDevice: (d) => (device = d),
    say: (text) => (statusEl.textContent = text),
    fail: (text) => {
      errorEl.textContent = text;
      errorEl.hidden = text === '';
    },
    refresh: async () => {
      await Promise.all([renderComputers(ctx), renderPolicies(ctx), renderHistory(ctx), renderKeys(ctx), renderAccount(ctx)]);
    },
    restartInbox: () => void restart(true),
    show: (screen) => {
      if (location.hash !== `#${screen}`) location.hash = screen;
      else show(screen);
    },
  };
  function startInbox(): void {
    serving?.abort();
    if (store.lost !== undefined) return; // nothing to listen with: store.onLost (below) says so
    const ctl = new AbortController();
    serving = ctl;
    inboxEl.textContent = '';
    // Nothing to listen for until a computer is paired: say so instead of "Connecting…" forever.
    void store.get('pairings').then((p) => {
      if (!ctl.signal.aborted && inboxEl.textContent === '') inboxEl.textContent = p?.length ? 'Connecting to the relay…' : 'No computer paired yet: open Pair.';
    });
    void serveRequests({
      sodium,
      store,
      log,
      approver,
      signal: ctl.signal,
      onStatus: (s) => {
        if (ctl.signal.aborted) return;
        inboxEl.textContent = s === 'connected' ? 'Listening for requests.' : 'Relay unreachable; retrying.';
        document.body.dataset.inbox = s;
      },
      onHandled: () => {
        if (store.lost === undefined) void ctx.refresh();
      },
      // Issue 16 §5 "Offline at the click": an answer is not "approved" until the computer has it.
      onDelivery: (e) => {
        const state = e.state;
        if (state === 'sent') {
          for (const o of e.outcomes) settledSays(o.title, `${capitalise(o.outcome)}.`);
          return;
        }
        for (const o of e.outcomes) settledSays(o.title, `${capitalise(deliveryOutcome(o.outcome, state))}.`);
        const what = e.outcomes.map((o) => `${o.title}: ${deliveryOutcome(o.outcome, state)}`).join('; ');
        ctx.say(what ? `${what}.` : state === 'late' ? 'An answer was delivered once the relay came back.' : 'An answer was not delivered.');
        document.body.dataset.delivery = state;
      },
      onRelayError: (url, e) => {
        if (!ctl.signal.aborted) inboxEl.textContent = `Cannot read the relay at ${new URL(url).host} (${errorText(e)}); retrying.`;
      },
      onPairingGone: () => {
        void ctx.refresh();
        ctx.restartInbox();
      },
    });
  }
  tabs?.addEventListener('message', () => {
    void ctx.refresh();
    void restart(false);
  });

  // Issue 16 §5 "Site data cleared with a card open": the keys and pairings went with the
  // storage, so stop listening, close the open cards (nothing can be signed now), and say so
  // plainly instead of "Listening for requests." with no keys behind it.
  store.onLost((why) => {
    log(`storage lost: ${why}`);
    serving?.abort();
    stopCustodyNotices();
    const open = document.querySelectorAll('#cards article').length;
    closeAllCards('this browser\'s data for the app was cleared');
    byId('elsewhere-live').hidden = true;
    inboxEl.textContent = 'Not listening: this browser\'s storage for the app is gone (keys and pairings with it).';
    document.body.dataset.inbox = 'stopped';
    document.body.dataset.storage = 'lost';
    ctx.fail(
      `This browser's data for the app was cleared (${why}): its keys, pairings and history are gone, so it can answer no computer. ` +
        `${open ? `The open request card${open === 1 ? ' was' : 's were'} closed unanswered. ` : ''}Reload the page to start afresh, then pair each computer again.`,
    );
  });

  setupPairScreen(ctx);
  setupPushControls(ctx);
  document.addEventListener('latch:changed', () => void ctx.refresh());
  // Two tabs (issue 16 §5, docs/WEB.md): a request is shown in the one tab whose claim won; this
  // one says where it is instead of showing nothing.
  const renderElsewhere = async (): Promise<void> => {
    if (store.lost !== undefined) return;
    const cards = await openElsewhere(store, OWNER, await liveOwners(), Math.floor(Date.now() / 1000), CLAIM_BUSY_SECONDS);
    byId('elsewhere').replaceChildren(...cards.map((c) => h('li', { text: `${cleanLine(c.title)}, from ${cleanLine(c.from)}: this request is open in another tab of this app. Answer it there.` })));
    byId('elsewhere-live').hidden = cards.length === 0;
  };
  onCardsChanged(() => void renderElsewhere().catch((e: unknown) => log(`could not list other tabs' cards: ${errorText(e)}`)));
  void renderElsewhere().catch(() => undefined);
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
  const pairings = (await store.get('pairings')) ?? [];
  show(location.hash ? location.hash.slice(1) : pairings.length ? 'requests' : 'pair');
  const last = pairings.at(-1);
  if (last) ctx.say(`Paired with ${last.computerName}`);
  // Cards a reload or a closed tab interrupted: their requests are refused by the inbox (§5.5); History says so.
  await recordInterruptedCards(store, await liveOwners(), Math.floor(Date.now() / 1000), CLAIM_BUSY_SECONDS).catch((e: unknown) => log(`could not check for interrupted cards: ${errorText(e)}`));
  await ctx.refresh();
  void restart(false); // a page opening changes no pairing: other tabs need not restart
  // The custody account's notices (2FA joins, recoveries): a no-op until this browser holds an account.
  restartCustodyNotices(ctx);
  // Issue 14: re-check the push subscription each time the app opens (the browser may have
  // renewed or dropped it, or the user changed the permission); never prompts by itself.
  void recheckPush(ctx);
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  errorEl.textContent = `The authenticator could not start: ${errorText(e)}`;
  errorEl.hidden = false;
  document.body.dataset.ready = 'error';
});
