/**
 * One AbortSignal per pairing, aborted when that pairing is forgotten (unpaired here, by the
 * computer, or in another tab): its open request cards are withdrawn at once instead of staying
 * answerable for the rest of their deadline.
 */
const controllers = new Map<string, AbortController>();

export function pairingSignal(pairingId: string): AbortSignal {
  let c = controllers.get(pairingId);
  if (!c) {
    c = new AbortController();
    controllers.set(pairingId, c);
  }
  return c.signal;
}

/** Aborts the signals of every pairing not in `current`. */
export function withdrawRemovedPairings(current: ReadonlySet<string>): void {
  for (const [id, c] of controllers) {
    if (current.has(id)) continue;
    c.abort();
    controllers.delete(id);
  }
}
