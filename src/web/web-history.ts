/**
 * The web authenticator's history screen: what was asked and what was answered, newest first,
 * kept in IndexedDB and capped. Records only what the card showed (never keys or signatures).
 * Browser-only.
 */
import type { WebStore } from './web-store.js';

export const HISTORY_LIMIT = 200;

export interface HistoryEntry {
  at: number;
  /** 'ssh' | 'git' | 'sshsig' | 'message' | 'join' | 'pair' | 'unpair' | ... */
  kind: string;
  /** The card's headline, e.g. "SSH login as me@server". */
  title: string;
  /** The computer or device that asked. */
  from: string;
  /** "approved once", "approved for 3 h", "denied", "expired", "approved by policy abc123", ... */
  outcome: string;
}

export async function addHistory(store: WebStore, entry: HistoryEntry): Promise<void> {
  await store.transact('history', (list) => ({ write: [entry, ...(list ?? [])].slice(0, HISTORY_LIMIT), value: undefined }));
  if (typeof document !== 'undefined') document.dispatchEvent(new CustomEvent('latch:changed'));
}
