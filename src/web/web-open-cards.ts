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

export async function cardOpened(store: WebStore, card: OpenCard): Promise<void> {
  await store.transact('openCards', (list) => ({ write: [...(list ?? []), card], value: undefined }));
}

export async function cardClosed(store: WebStore, id: string): Promise<void> {
  await store.transact('openCards', (list) => ({ write: (list ?? []).filter((c) => c.id !== id), value: undefined }));
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
