/**
 * RelayStore on SQLite (better-sqlite3). WAL with synchronous=FULL so that a put
 * which has resolved survives kill -9 and power loss (PROTOCOL.md §3.6: "stored" means durable).
 *
 * Group commit (§3.6): puts and acks are queued and written together, in one transaction per
 * event-loop turn (flushed from setImmediate, so everything that arrived in the same turn rides
 * one fsync) or every MAX_BATCH operations, whichever comes first. Each caller's promise settles
 * only after the transaction that holds its operation has committed. One fsync per turn, not
 * one per send, is what lets the relay keep up with thousands of sends per second; the fsync
 * still runs on the event loop, but once per batch, so it costs the other sockets ~0.3-1 ms per
 * turn instead of that much per message.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEDUP_WINDOW_MS, type EarlyArrival, type PutResult, type RelayStore, type StoredMessage } from './relay-store.js';

export const RELAY_DB_FILE = 'relay.sqlite';
/** Operations per transaction at most; a fuller queue is flushed at once. */
export const MAX_BATCH = 1000;
/**
 * Ids are handed out before the commit, so that an early delivery can carry one (§3.6). Each
 * process reserves them in blocks of this size, recorded in AUTOINCREMENT's sequence before any
 * of them is used: after a crash, the next process starts past every id the dead one handed out,
 * so a reader that saw an id on a message the crash lost never meets that id on another message.
 */
export const ID_BLOCK = 1n << 20n;

type Op =
  | { kind: 'put'; queue: string; body: Buffer; now: number; clientId: string | undefined; id: bigint; resolve: (r: PutResult) => void; reject: (e: unknown) => void }
  | { kind: 'ack'; queue: string; ids: readonly string[]; resolve: (n: number) => void; reject: (e: unknown) => void };

export class SqliteRelayStore implements RelayStore {
  readonly #db: Database.Database;
  readonly #ttlMs: number;
  readonly #stmts: {
    put: Database.Statement;
    findSent: Database.Statement;
    rememberSent: Database.Statement;
    listAll: Database.Statement;
    listAfter: Database.Statement;
    ack: Database.Statement;
    close: Database.Statement;
    isClosed: Database.Statement;
    purgeMessages: Database.Statement;
    purgeClosed: Database.Statement;
    purgeSent: Database.Statement;
  };
  readonly #runBatch: Database.Transaction<(ops: readonly Op[]) => unknown[]>;
  #pending: Op[] = [];
  /** (queue, cid) of puts queued and not yet committed: a second copy in that window is no early delivery. */
  readonly #pendingCids = new Set<string>();
  #nextId: bigint;
  /** The last id of the reserved block (recorded in sqlite_sequence). */
  #reservedUpTo: bigint;
  readonly #reserve: (upTo: bigint) => void;
  #scheduled = false;
  #open = true;

  constructor(opts: { dataDir: string; ttlSeconds: number }) {
    if (!Number.isFinite(opts.ttlSeconds) || opts.ttlSeconds <= 0) throw new TypeError('ttlSeconds must be positive');
    this.#ttlMs = Math.round(opts.ttlSeconds * 1000);
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const db = new Database(join(opts.dataDir, RELAY_DB_FILE));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body BLOB NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, id);
      CREATE INDEX IF NOT EXISTS messages_by_time ON messages (received_at);
      CREATE TABLE IF NOT EXISTS closed_queues (
        queue TEXT PRIMARY KEY,
        reason TEXT,
        closed_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS sent_ids (
        queue TEXT NOT NULL,
        cid TEXT NOT NULL,
        id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (queue, cid)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS sent_ids_by_time ON sent_ids (at);
    `);
    this.#db = db;
    this.#stmts = {
      // One statement, so one transaction: the closed check and the insert cannot be split by a close.
      put: db.prepare(
        `INSERT INTO messages (id, queue, body, received_at)
         SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ?)`,
      ),
      findSent: db.prepare('SELECT id FROM sent_ids WHERE queue = ? AND cid = ? AND at > ?'),
      rememberSent: db.prepare(
        `INSERT INTO sent_ids (queue, cid, id, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (queue, cid) DO UPDATE SET id = excluded.id, at = excluded.at`,
      ),
      listAll: db.prepare(
        'SELECT id, body, received_at FROM messages WHERE queue = ? AND received_at > ? ORDER BY id LIMIT ?',
      ),
      listAfter: db.prepare(
        'SELECT id, body, received_at FROM messages WHERE queue = ? AND id > ? AND received_at > ? ORDER BY id LIMIT ?',
      ),
      ack: db.prepare('DELETE FROM messages WHERE queue = ? AND id = ?'),
      close: db.prepare(
        `INSERT INTO closed_queues (queue, reason, closed_at) VALUES (?, ?, ?)
         ON CONFLICT (queue) DO UPDATE SET reason = excluded.reason, closed_at = excluded.closed_at`,
      ),
      isClosed: db.prepare('SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ?'),
      purgeMessages: db.prepare('DELETE FROM messages WHERE received_at <= ?'),
      purgeClosed: db.prepare('DELETE FROM closed_queues WHERE closed_at <= ?'),
      purgeSent: db.prepare('DELETE FROM sent_ids WHERE at <= ?'),
    };
    // Ids are bound as BigInt so 64-bit values never lose precision.
    this.#stmts.listAfter.safeIntegers(true);
    this.#stmts.listAll.safeIntegers(true);
    this.#stmts.findSent.safeIntegers(true);
    this.#stmts.put.safeIntegers(true);
    // AUTOINCREMENT's sequence: the highest id committed or reserved, also after its row went.
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").safeIntegers(true).get() as { seq: bigint } | undefined;
    const setSeq = db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'");
    const addSeq = db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)");
    this.#reserve = (upTo) => {
      if (setSeq.run(upTo).changes === 0) addSeq.run(upTo);
      this.#reservedUpTo = upTo;
    };
    this.#nextId = (seq?.seq ?? 0n) + 1n;
    this.#reservedUpTo = 0n;
    this.#reserve(this.#nextId - 1n + ID_BLOCK);
    this.#runBatch = db.transaction((ops: readonly Op[]) => ops.map((op) => (op.kind === 'put' ? this.#put(op) : this.#ack(op))));
  }

  put(queue: string, body: Uint8Array, now: number, clientId?: string, early?: EarlyArrival): Promise<PutResult> {
    this.#check();
    // The id is handed out now, in put order (a put the batch then refuses leaves a gap).
    const id = this.#takeId();
    const dedupKey = clientId === undefined ? undefined : `${queue} ${clientId}`;
    // Known now whether the batch will store it: closes run synchronously after flushing what
    // was queued (close() below), so the closed check here sees what the commit will see, and a
    // client id is new unless it is committed or queued already. Asked only for an early
    // announcement (a subscription wants one, §3.6); otherwise only the batch decides.
    const announce =
      early !== undefined &&
      this.#stmts.isClosed.get(queue, now - this.#ttlMs) === undefined &&
      (dedupKey === undefined || (!this.#pendingCids.has(dedupKey) && this.#stmts.findSent.get(queue, clientId, now - DEDUP_WINDOW_MS) === undefined));
    if (dedupKey !== undefined) this.#pendingCids.add(dedupKey);
    const promise = new Promise<PutResult>((resolve, reject) => {
      // Copied: the caller's buffer may be reused before the batch is written.
      const copy = Buffer.from(body);
      this.#enqueue({ kind: 'put', queue, body: copy, now, clientId, id, resolve, reject });
    });
    if (announce) early({ id: id.toString(), body, receivedAt: now });
    return promise;
  }

  async list(queue: string, afterId: string | undefined, limit: number, now: number): Promise<StoredMessage[]> {
    this.#check();
    const since = now - this.#ttlMs;
    const rows = (
      afterId === undefined
        ? this.#stmts.listAll.all(queue, since, limit)
        : this.#stmts.listAfter.all(queue, BigInt(afterId), since, limit)
    ) as { id: bigint; body: Buffer; received_at: bigint }[];
    return rows.map((r) => ({
      id: r.id.toString(),
      body: new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength),
      receivedAt: Number(r.received_at),
    }));
  }

  ack(queue: string, ids: readonly string[]): Promise<number> {
    this.#check();
    return new Promise((resolve, reject) => this.#enqueue({ kind: 'ack', queue, ids: [...ids], resolve, reject }));
  }

  close(): Promise<void>;
  close(queue: string, reason: string | undefined, now: number): Promise<void>;
  async close(queue?: string, reason?: string, now?: number): Promise<void> {
    if (queue === undefined) {
      if (this.#open) {
        this.#flush(); // what was queued is answered before the database goes
        this.#open = false;
        this.#db.close();
      }
      return;
    }
    this.#check();
    if (typeof now !== 'number') throw new TypeError('close(queue, reason, now) needs now');
    // Puts queued before the close are written first, so the order callers saw is kept.
    this.#flush();
    this.#stmts.close.run(queue, reason ?? null, now);
  }

  async isClosed(queue: string, now: number): Promise<boolean> {
    this.#check();
    return this.#stmts.isClosed.get(queue, now - this.#ttlMs) !== undefined;
  }

  async purgeExpired(now: number): Promise<number> {
    this.#check();
    const cutoff = now - this.#ttlMs;
    const n = this.#stmts.purgeMessages.run(cutoff).changes;
    this.#stmts.purgeClosed.run(cutoff);
    this.#stmts.purgeSent.run(now - DEDUP_WINDOW_MS);
    return n;
  }

  #enqueue(op: Op): void {
    this.#pending.push(op);
    if (this.#pending.length >= MAX_BATCH) {
      this.#flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate runs after this turn's I/O callbacks: every send read in the turn joins.
      setImmediate(() => this.#flush());
    }
  }

  /** Writes every queued operation in one transaction, then settles their promises. */
  #flush(): void {
    this.#scheduled = false;
    const ops = this.#pending;
    if (ops.length === 0 || !this.#open) return;
    this.#pending = [];
    this.#pendingCids.clear();
    // Acks alone skip the fsync: losing one to a power cut (not to kill -9: WAL commits survive a
    // process crash without fsync) only means a redelivery, answered from the replay cache (§5.5).
    const durable = ops.some((op) => op.kind === 'put');
    let results: unknown[];
    try {
      if (!durable) this.#db.pragma('synchronous = NORMAL');
      try {
        // IMMEDIATE: the write lock is taken first, waiting (busy_timeout) if another connection
        // holds it; a deferred transaction that read first could not wait for it (SQLITE_BUSY).
        results = this.#runBatch.immediate(ops);
      } finally {
        if (!durable) this.#db.pragma('synchronous = FULL');
      }
    } catch (e) {
      for (const op of ops) op.reject(e);
      return;
    }
    for (let i = 0; i < ops.length; i++) (ops[i]!.resolve as (v: unknown) => void)(results[i]);
  }

  #put(op: Extract<Op, { kind: 'put' }>): PutResult {
    const { queue, clientId, now } = op;
    if (clientId !== undefined) {
      const seen = this.#stmts.findSent.get(queue, clientId, now - DEDUP_WINDOW_MS) as { id: bigint } | undefined;
      if (seen !== undefined) return { ok: true, id: seen.id.toString(), duplicate: true };
    }
    const id = op.id;
    const info = this.#stmts.put.run(id, queue, op.body, now, queue, now - this.#ttlMs);
    if (info.changes === 0) return { ok: false, reason: 'closed' };
    if (clientId !== undefined) this.#stmts.rememberSent.run(queue, clientId, id, now);
    return { ok: true, id: id.toString(), duplicate: false };
  }

  /** The next id; reserves the next block first (one small durable write per ID_BLOCK ids). */
  #takeId(): bigint {
    if (this.#nextId > this.#reservedUpTo) this.#reserve(this.#reservedUpTo + ID_BLOCK);
    return this.#nextId++;
  }

  #ack(op: Extract<Op, { kind: 'ack' }>): number {
    let n = 0;
    for (const id of new Set(op.ids)) n += this.#stmts.ack.run(op.queue, BigInt(id)).changes;
    return n;
  }

  #check(): void {
    if (!this.#open) throw new Error('relay store is closed');
  }
}
