/**
 * `latch device`'s replay cache (PROTOCOL.md §5.5) as an append-only journal beside the
 * keystore, so that claiming a request costs one small authenticated append and one fdatasync
 * instead of re-encrypting and renaming the whole keystore twice per request.
 *
 *   state = keystore.replay (as of the last compaction), then every journal record in order
 *           (a later record for a request id replaces an earlier one).
 *
 * Every read and append happens under the keystore lock, after catching up with whatever other
 * processes appended (or compacted) since, so two processes sharing a keystore still never both
 * act. A claim is written (in the kernel, where kill -9 cannot lose it) before the caller acts on
 * it, and durable (fdatasync) before any answer leaves: its sync runs on the thread pool while the
 * caller acts, and the next answer waits for it (§5.5). A record torn by a crash was therefore
 * never answered, and is cut off before the next append. Now and then the journal is
 * folded into the keystore (one atomic keystore write) and replaced by a fresh, empty one with a
 * new generation; a crash between the two only re-applies records already folded, which changes
 * nothing. An unpair's answer goes through that same fold, so its answer and its effect land in
 * one keystore write. A fold that is due waits until no request has come for a moment, so that it
 * never holds up the next request of a burst (an ssh login's keys, a rebase's signatures); only a
 * journal that reaches COMPACT_AT_MOST_RECORDS folds at once.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, readSync, rmSync, ftruncateSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { Keystore } from './keystore.js';
import type { AuthenticatorState, ReplayEntry } from './authenticator-state.js';
import { JOURNAL_HEADER_BYTES, decodeJournalHeader, encodeJournalHeader, openJournalRecords, sealJournalRecord } from './replay-journal-codec.js';
import { keepReplayEntry } from './request-core.js';

/** Records after which the journal is folded into the keystore once idle (bounds replay-on-open and file size). */
export const COMPACT_AFTER_RECORDS = 256;
/** Folded at once, idle or not: the bound under a steady stream of requests. */
export const COMPACT_AT_MOST_RECORDS = 1024;
/** How long without a claim or an answer before a due fold runs. */
export const FOLD_WHEN_IDLE_MS = 1000;

export class ReplayJournal {
  readonly path: string;
  #key: Uint8Array | undefined;
  /** Which journal our view is of (its generation); offset/seq = how far we have read. */
  #generation: Uint8Array = new Uint8Array(0);
  #offset = 0;
  #seq = 0;
  /** Journal records folded by request id, in our view. */
  #entries = new Map<string, ReplayEntry>();
  /** fdatasyncs still running on the thread pool (claims and answers); an answer waits for them. */
  #syncing: Promise<void> = Promise.resolve();
  /** The fold waiting for a quiet moment (FOLD_WHEN_IDLE_MS), if one is due. */
  #idleFold: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly sodium: Sodium,
    private readonly keystore: Keystore,
    private readonly clock: () => number,
    /** Where a fold run when idle reports a failure (it has no caller to throw to). */
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.path = join(dirname(keystore.path), 'replay.journal');
  }

  /**
   * Under the keystore lock: `get` looks up the newest entry of a request (a copy), and `fn`
   * returns the new or changed entries to append. `fold` folds the journal into the keystore
   * with `mutate` applied in the same write. `written` (an answer going out) is called once the
   * changes are written and every earlier claim is durable, or then at once when there are none.
   */
  async transact<T>(
    fn: (get: (requestId: string) => ReplayEntry | undefined) => { value: T; changed: ReplayEntry[]; fold?: (s: AuthenticatorState) => void; written?: () => void },
  ): Promise<T> {
    // A request is here: a due fold waits for the next quiet moment.
    clearTimeout(this.#idleFold);
    return this.keystore.withLock(async () => {
      let fd: number | undefined = this.#catchUp();
      try {
        const { value, changed, fold, written } = fn((id) => this.#get(id));
        if (fold) {
          closeSync(fd);
          fd = undefined;
          await this.#syncing;
          this.#compact(changed, fold);
          return value;
        }
        if (changed.length > 0) this.#append(fd, changed);
        if (written !== undefined) {
          // No answer leaves before the claims it answers are durable (power loss, §5.5).
          await this.#syncing;
          written();
        }
        if (changed.length > 0) {
          this.#syncInBackground(fd);
          fd = undefined; // closed by the sync
        }
        if (this.#seq >= COMPACT_AT_MOST_RECORDS) {
          await this.#syncing;
          this.#compact([], () => undefined);
        } else if (this.#seq >= COMPACT_AFTER_RECORDS) this.#foldWhenIdle();
        return value;
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    });
  }

  /**
   * Folds the journal once FOLD_WHEN_IDLE_MS pass with no claim or answer (each one starts the wait
   * again). It takes the lock like any transaction, so a request that comes meanwhile waits for it.
   * The timer does not keep the process alive: a journal left unfolded is read on the next open.
   */
  #foldWhenIdle(): void {
    clearTimeout(this.#idleFold);
    this.#idleFold = setTimeout(() => {
      this.#idleFold = undefined;
      this.keystore
        .withLock(async () => {
          closeSync(this.#catchUp());
          if (this.#seq < COMPACT_AFTER_RECORDS) return; // another process folded it meanwhile
          await this.#syncing;
          this.#compact([], () => undefined);
        })
        .catch((e: unknown) => this.log(`could not fold the replay journal into the keystore: ${(e as Error).message}`));
    }, FOLD_WHEN_IDLE_MS);
    this.#idleFold.unref();
  }

  /** One request's entry: the journal's, else the keystore's base; a fresh copy. */
  #get(requestId: string): ReplayEntry | undefined {
    const r = this.#entries.get(requestId) ?? this.keystore.state.replay.find((e) => e.requestId === requestId);
    return r === undefined ? undefined : { ...r };
  }

  /** The base from the keystore overlaid with the journal, as fresh copies. */
  #list(): ReplayEntry[] {
    const byId = new Map<string, ReplayEntry>();
    for (const r of this.keystore.state.replay) byId.set(r.requestId, r);
    for (const [id, r] of this.#entries) byId.set(id, r);
    return [...byId.values()].map((r) => ({ ...r }));
  }

  /** Bring our view up to date with the keystore and the journal on disk; returns an open fd of the journal. */
  #catchUp(): number {
    this.keystore.reloadIfChanged();
    const keyText = this.keystore.state.replayJournalKey;
    if (keyText === undefined) {
      // Older keystore: make the key. A journal without one cannot be ours; start afresh.
      this.keystore.transactLocked((s) => {
        s.replayJournalKey = encodeBase64url(this.sodium.randombytes_buf(32));
        return { write: true, value: undefined };
      });
      rmSync(this.path, { force: true });
    }
    this.#key = decodeBase64url(this.keystore.state.replayJournalKey!, 'replay journal key');
    let fd: number;
    try {
      fd = openSync(this.path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.#fresh();
      fd = openSync(this.path, 'r+');
    }
    const st = fstatSync(fd);
    // The generation, not the inode, names the journal: an inode number is reused after a rename.
    const header = new Uint8Array(JOURNAL_HEADER_BYTES);
    const generation = decodeJournalHeader(header.subarray(0, readSync(fd, header, 0, header.length, 0)));
    if (!sameBytes(generation, this.#generation) || st.size < this.#offset) {
      this.#generation = generation;
      this.#offset = JOURNAL_HEADER_BYTES;
      this.#seq = 0;
      this.#entries.clear();
    }
    if (st.size > this.#offset) {
      const bytes = new Uint8Array(st.size - this.#offset);
      readSync(fd, bytes, 0, bytes.length, this.#offset);
      const got = openJournalRecords(this.sodium, this.#key, this.#generation, this.#seq, bytes);
      for (const e of got.entries) this.#entries.set(e.requestId, e);
      this.#offset += got.used;
      this.#seq += got.entries.length;
      if (got.tornTail) {
        // Cut what a crash left half-written, so the next record follows a whole one.
        ftruncateSync(fd, this.#offset);
        fdatasyncSync(fd);
      }
    }
    return fd;
  }

  /**
   * Writes the records: they are then in the kernel, where a kill -9 of this process cannot lose
   * them, and only power loss could; #syncInBackground makes them durable.
   */
  #append(fd: number, entries: ReplayEntry[]): void {
    const records = entries.map((e, i) => sealJournalRecord(this.sodium, this.#key!, this.#generation, this.#seq + i, e));
    const bytes = Buffer.concat(records);
    writeSync(fd, bytes, 0, bytes.length, this.#offset);
    this.#offset += bytes.length;
    this.#seq += entries.length;
    for (const e of entries) this.#entries.set(e.requestId, { ...e });
  }

  /**
   * fdatasync on the thread pool, then closes `fd`. A claim's sync so overlaps the signing it
   * guards (issue 9); the answer that follows waits for it. A failed sync fails that answer.
   */
  #syncInBackground(fd: number): void {
    const done = new Promise<void>((resolve, reject) =>
      fdatasync(fd, (err) => {
        try {
          closeSync(fd);
        } catch {
          /* nothing more to release */
        }
        if (err) reject(err);
        else resolve();
      }),
    );
    const previous = this.#syncing;
    this.#syncing = Promise.all([previous, done]).then(() => undefined);
    // Awaited by the next answer; until then, a failure must not count as unhandled. It stays
    // failed: after a failed fdatasync the kernel may have dropped the pages, so no later answer
    // may claim what it guarded is durable (the process must be restarted on a sound disk).
    this.#syncing.catch(() => undefined);
  }

  /** Fold journal + `extra` into the keystore (pruning expired entries), apply `mutate`, then start a fresh journal. */
  #compact(extra: ReplayEntry[], mutate: (s: AuthenticatorState) => void): void {
    const now = this.clock();
    const byId = new Map<string, ReplayEntry>();
    for (const r of this.#list()) byId.set(r.requestId, r);
    for (const r of extra) byId.set(r.requestId, { ...r });
    this.keystore.transactLocked((s) => {
      // Entries on disk the journal does not know of (none, normally) are kept.
      for (const r of s.replay) if (!byId.has(r.requestId)) byId.set(r.requestId, r);
      s.replay = [...byId.values()].filter((r) => keepReplayEntry(r, now));
      mutate(s);
      return { write: true, value: undefined };
    });
    this.#fresh();
  }

  /** Replace the journal with an empty one of a new generation (atomic rename, then our view is reset). */
  #fresh(): void {
    writeFileAtomic(this.path, encodeJournalHeader(this.sodium.randombytes_buf(16)));
    this.#generation = new Uint8Array(0);
    this.#offset = 0;
    this.#seq = 0;
    this.#entries.clear();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
