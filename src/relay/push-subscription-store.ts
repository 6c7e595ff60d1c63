/**
 * Where the relay keeps Web Push subscriptions (issue 14, PROTOCOL.md §3.9), one per queue: the
 * queue's reader registered it with the queue's reader proof, so only that reader can point the
 * queue's wake-ups somewhere. Kept apart from RelayStore on purpose: a relay on another message
 * store (JetStream) keeps its push subscriptions behind this interface.
 */

/** A browser's PushSubscription as the relay needs it (RFC 8030 endpoint, RFC 8291 keys). */
export interface PushSubscriptionRecord {
  /** The push service's https URL for this subscription. */
  readonly endpoint: string;
  /** The browser's P-256 public key (65 bytes uncompressed), base64url. */
  readonly p256dh: string;
  /** The browser's 16-byte authentication secret, base64url. */
  readonly auth: string;
  /** unix milliseconds */
  readonly registeredAt: number;
}

export interface PushSubscriptionStore {
  /** Registers (or replaces) the queue's subscription. */
  set(queue: string, sub: PushSubscriptionRecord): Promise<void>;
  get(queue: string): Promise<PushSubscriptionRecord | undefined>;
  /** Drops the queue's subscription; with `endpoint`, only if it is still that one (a 404/410 must not drop a newer one). */
  delete(queue: string, endpoint?: string): Promise<boolean>;
  close(): Promise<void>;
}
