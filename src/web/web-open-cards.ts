/**
 * Cards open right now, kept in IndexedDB by the page load showing them (issue 16 §5): a request
 * interrupted by a reload or a closed tab is answered `request_interrupted` by the next page
 * (PROTOCOL.md §5.5) but left no History entry. Each card is written here when shown and removed
 * when answered; a page starting up records the cards of page loads that are gone as
 * "interrupted" in History. Browser-only.
 */
import { addHistory } from './web-history.js';
import type { WebStore } from './web-store.js';

export interface OpenCard {
  id: string;
  /** The page load showing it (web-authenticator.ts OWNER). */
  owner: string;
  at: number;
  kind: string;
  title: string;
  from: string;
}

/**
 * Two tabs (issue 16 §5): a request is shown in ONE tab, the one whose replay claim won (§5.5);
 * every other tab of the app says where it is (openElsewhere). Each change is announced here so
 * they update at once.
 */
const CARDS_CHANNEL = 'latch-cards';
const announce: BroadcastChannel | undefined = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CARDS_CHANNEL) : undefined;

export async function cardOpened(store: WebStore, card: OpenCard): Promise<void> {
  await store.transact('openCards', (list) => ({ write: [...(list ?? []), card], value: undefined }));
  announce?.postMessage('changed');
}

export async function cardClosed(store: WebStore, id: string): Promise<void> {
  await store.transact('openCards', (list) => ({ write: (list ?? []).filter((c) => c.id !== id), value: undefined }));
  announce?.postMessage('changed');
}

/** Calls `fn` whenever another tab opens or closes a card. */
export function onCardsChanged(fn: () => void): void {
  if (typeof BroadcastChannel !== 'function') return;
  new BroadcastChannel(CARDS_CHANNEL).addEventListener('message', () => fn());
}

/** The cards open in other live page loads than `self` (`live` undefined, no Web Locks: those younger than `maxAge` s). */
export async function openElsewhere(store: WebStore, self: string, live: ReadonlySet<string> | undefined, now: number, maxAge: number): Promise<OpenCard[]> {
  const all = (await store.get('openCards')) ?? [];
  return all.filter((c) => c.owner !== self && (live ? live.has(c.owner) : now - c.at <= maxAge));
}

/** Record the open cards of page loads not in `live` as interrupted; `live` undefined (no Web Locks): those older than `maxAge` s. */
export async function recordInterruptedCards(store: WebStore, live: ReadonlySet<string> | undefined, now: number, maxAge: number): Promise<number> {
  const gone = await store.transact('openCards', (list) => {
    const all = list ?? [];
    const dead = all.filter((c) => (live ? !live.has(c.owner) : now - c.at > maxAge));
    return dead.length ? { write: all.filter((c) => !dead.includes(c)), value: dead } : { value: dead };
  });
  for (const c of gone) await addHistory(store, { at: now, kind: c.kind, title: c.title, from: c.from, outcome: 'interrupted: the page was reloaded or closed with the card open (the computer was told)' });
  return gone.length;
}
