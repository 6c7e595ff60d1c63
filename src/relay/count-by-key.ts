/**
 * Adds `delta` to the count kept for `key`, dropping the entry at zero, so a map of counts
 * (sockets per IP, early subscriptions per queue, pending client ids) holds only live keys.
 */
export function bumpCount(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
