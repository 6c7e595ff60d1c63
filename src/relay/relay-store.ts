/**
 * Storage behind the relay (PROTOCOL.md §3.6). Async on purpose: SQLite answers
 * synchronously today, PostgreSQL or NATS implementations will not.
 *
 * Times are unix milliseconds. A message is visible while now < receivedAt + ttl;
 * a closed marker likewise. Ids are decimal strings of increasing integers, so a
 * reader can page with `afterId`.
 */
export interface StoredMessage {
  readonly id: string;
  readonly body: Uint8Array;
  /** unix milliseconds */
  readonly receivedAt: number;
}

import type { QueueWakes } from './queue-notifier.js';

/**
 * `previousId`, when the store knows it, is the id of the message before this one in its queue
 * at the time of the append ("0": none); see Arrival.
 * `ok: false` means the queue is closed; the message was not stored. `duplicate` means the
 * client message id was seen within the dedup window: nothing new was stored and `id` is the
 * first copy's (PROTOCOL.md §3.5, "send").
 */
export type PutResult = { ok: true; id: string; duplicate: boolean; previousId?: string } | { ok: false; reason: 'closed' };

/** How long a client message id is remembered for deduplication (PROTOCOL.md §3.5, "send"). */
export const DEDUP_WINDOW_MS = 10 * 60 * 1000;

/** Client message ids (`cid`): 16..64 base64url characters, chosen at random by the sender. */
export const CLIENT_MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Told a message before its commit (PROTOCOL.md §3.6, "Early delivery"), with the id it will be
 * stored under, when the store knows by then that it will store it (the queue is open and the
 * client message id is new). A store that cannot know that never calls it.
 */
export type EarlyArrival = (message: StoredMessage) => void;

export interface RelayStore {
  /**
   * Stores the message unless the queue is closed, as one atomic step (PROTOCOL.md §3.3, §3.6):
   * a check-then-insert in two steps let a send whose body was still arriving land after the
   * reader had closed and drained the queue. Resolves only after the commit.
   * With `clientId`, a second put of the same (queue, clientId) within DEDUP_WINDOW_MS stores
   * nothing and answers the first id with `duplicate: true`, even if the first was acked since.
   */
  put(queue: string, body: Uint8Array, now: number, clientId?: string, early?: EarlyArrival): Promise<PutResult>;
  /** Unacked, unexpired messages with id > afterId, in arrival order. */
  list(queue: string, afterId: string | undefined, limit: number, now: number): Promise<StoredMessage[]>;
  /** Deletes the listed messages of this queue; unknown ids are ignored. Returns how many were deleted. */
  ack(queue: string, ids: readonly string[]): Promise<number>;
  /** Marks a queue closed (sends are refused) until the marker expires with the TTL. */
  close(queue: string, reason: string | undefined, now: number): Promise<void>;
  /**
   * Wake-ups shared by every relay node on this store (JetStream: core NATS subjects). Absent:
   * the relay is one process and wakes its readers in-process (QueueNotifier).
   */
  readonly wakes?: QueueWakes;
  /** Releases the store. */
  close(): Promise<void>;
  isClosed(queue: string, now: number): Promise<boolean>;
  /** Deletes expired messages, closed markers and client ids past the dedup window; returns how many messages were deleted. */
  purgeExpired(now: number): Promise<number>;
}

/** Message ids on the wire: decimal, no leading zeros, fits a signed 64-bit integer. */
export const MESSAGE_ID_PATTERN = /^[1-9][0-9]{0,18}$/;
const MAX_INT64 = 9223372036854775807n;

export function isMessageId(text: unknown): text is string {
  return typeof text === 'string' && MESSAGE_ID_PATTERN.test(text) && BigInt(text) <= MAX_INT64;
}
