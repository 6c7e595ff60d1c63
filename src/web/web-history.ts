/**
 * The web authenticator's history screen: what was asked and what was answered, newest first,
 * kept in IndexedDB and capped (pairings and live timed approvals are kept besides). Records only what the card showed (never keys or signatures).
 * Browser-only.
 */
import { policyInForce } from '../authenticator/policy-book.js';
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
  /**
   * Kept out of the rolling window while what it records is live (issue 16 §2): a pairing
   * (its id) while it is paired, a timed approval (its policy id) while it is in force. A flood
   * of requests must not push them out of sight.
   */
  pin?: { pairing: string } | { policy: string };
  /**
   * An answer that could not be sent at once (issue 16 §5 "Offline at the click"): its request,
   * what was decided, and where its delivery stands. `outcome` then says so (deliveryOutcome).
   */
  delivery?: { requestId: string; decided: string; state: DeliveryState };
}

/** 'retrying': not delivered yet; 'late': delivered after a retry; 'lost': given up (nobody waits any more). */
export type DeliveryState = 'retrying' | 'late' | 'lost';

/** The History line for an answer by its delivery: never "approved" alone before the computer has it. */
export function deliveryOutcome(decided: string, state: DeliveryState): string {
  switch (state) {
    case 'retrying':
      return `${decided}, not delivered, retrying`;
    case 'late':
      return `${decided}, delivered once the relay came back`;
    case 'lost':
      return `${decided}, never delivered: the relay was unreachable until the computer stopped waiting`;
  }
}

/** Moves the undelivered entries of `requestId` to `state`; resolves with how many there were. */
export async function settleDelivery(store: WebStore, requestId: string, state: Exclude<DeliveryState, 'retrying'>): Promise<number> {
  const n = await store.transact('history', (list) => {
    let changed = 0;
    const next = (list ?? []).map((e) => {
      if (e.delivery?.requestId !== requestId || e.delivery.state !== 'retrying') return e;
      changed++;
      return { ...e, outcome: deliveryOutcome(e.delivery.decided, state), delivery: { ...e.delivery, state } };
    });
    return changed ? { write: next, value: changed } : { value: 0 };
  });
  if (n && typeof document !== 'undefined') document.dispatchEvent(new CustomEvent('latch:changed'));
  return n;
}

export async function addHistory(store: WebStore, entry: HistoryEntry): Promise<void> {
  await store.transactMany(['history', 'pairings', 'policies'], (v) => {
    const now = Math.floor(Date.now() / 1000);
    const pairings = new Set((v.pairings ?? []).map((p) => p.id));
    const policies = new Set((v.policies ?? []).filter((p) => policyInForce(p, now)).map((p) => p.id));
    const live = (e: HistoryEntry): boolean => (e.pin && 'pairing' in e.pin ? pairings.has(e.pin.pairing) : e.pin && 'policy' in e.pin ? policies.has(e.pin.policy) : false);
    // Newest first; the rolling window holds HISTORY_LIMIT entries besides the pinned live ones.
    let rolling = 0;
    const kept = [entry, ...(v.history ?? [])].filter((e) => live(e) || ++rolling <= HISTORY_LIMIT);
    return { write: { history: kept }, value: undefined };
  });
  if (typeof document !== 'undefined') document.dispatchEvent(new CustomEvent('latch:changed'));
}
