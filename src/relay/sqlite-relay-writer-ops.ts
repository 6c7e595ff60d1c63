/**
 * What the SQLite relay store and its writer thread (sqlite-relay-writer.ts) say to each other:
 * a batch of operations in, one result per operation (or one error for the batch) out. Ids and
 * times travel as strings and numbers so that the structured clone carries them unchanged.
 */
import type { PutResult } from './relay-store.js';

export interface WriterSetup {
  file: string;
  ttlMs: number;
  dedupWindowMs: number;
}

export type WriterOp =
  | { kind: 'put'; queue: string; body: Uint8Array; now: number; clientId: string | undefined; id: string }
  | { kind: 'ack'; queue: string; ids: string[] }
  | { kind: 'close'; queue: string; reason: string | null; now: number }
  | { kind: 'purge'; now: number }
  /** Records `upTo` as the highest id reserved (sqlite_sequence; never lowers it). */
  | { kind: 'reserve'; upTo: string };

/** put: PutResult; ack and purge: a count; close and reserve: null. */
export type WriterResult = PutResult | number | null;

export type WriterReply = { ok: true; results: WriterResult[] } | { ok: false; message: string };
