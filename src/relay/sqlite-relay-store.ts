/**
 * RelayStore on SQLite (better-sqlite3). WAL with synchronous=FULL so that a put
 * which has resolved survives kill -9 and power loss (PROTOCOL.md §3.6: "stored" means durable).
 *
 * Group commit, off the event loop (§3.6): every write (puts, acks, closes, purges) is queued and
 * handed to the writer thread (sqlite-relay-writer.ts) as one transaction, at most one batch at a
 * time: what arrives while a batch commits forms the next one (up to MAX_BATCH operations), so
 * the batch grows with the fsync time. Each caller's promise settles only after the transaction
 * that holds its operation has committed. The event loop never waits for the disk: while a batch
 * syncs, it goes on serving every socket. Reads (list, isClosed) use this thread's own connection
 * and see what has committed; WAL lets them run beside the writer.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { DEDUP_WINDOW_MS, type EarlyArrival, type PutResult, type RelayStore, type StoredMessage } from './relay-store.js';
import type { WriterOp, WriterReply, WriterResult, WriterSetup } from './sqlite-relay-writer-ops.js';
import { bumpCount } from './count-by-key.js';

export const RELAY_DB_FILE = 'relay.sqlite';
/** Operations per transaction at most. */
export const MAX_BATCH = 1000;
/**
 * Ids are handed out before the commit, so that an early delivery can carry one (§3.6). They are
 * reserved in blocks of this size, recorded in AUTOINCREMENT's sequence before any of them is
 * announced: after a crash, the next process starts past every id the dead one announced, so a
 * reader never meets an id it saw on a message the crash lost on another message.
 */
export const ID_BLOCK = 1n << 20n;

interface Queued {
  op: WriterOp;
  resolve: (r: WriterResult) => void;
  reject: (e: unknown) => void;
}

export class SqliteRelayStore implements RelayStore {
  readonly #db: Database.Database;
  readonly #ttlMs: number;
  readonly #stmts: {
    closedOrSent: Database.Statement;
    listAll: Database.Statement;
    listAfter: Database.Statement;
    isClosed: Database.Statement;
  };
  readonly #writer: Worker;
  #pending: Queued[] = [];
  #inFlight: Queued[] | undefined;
  #scheduled = false;
  #open = true;
  #broken: Error | undefined;
  readonly #drained: (() => void)[] = [];
  /** (queue, cid) of puts queued or committing: a second copy in that window is no early delivery. */
  readonly #pendingCids = new Map<string, number>();
  /** Queues with a close queued or committing: no early delivery there. */
  readonly #closing = new Map<string, number>();
  #nextId: bigint;
  /** The last id of the reserved blocks that have committed; only ids up to it are announced early. */
  #reservedUpTo: bigint;
  #reserving = false;

  constructor(opts: { dataDir: string; ttlSeconds: number }) {
    if (!Number.isFinite(opts.ttlSeconds) || opts.ttlSeconds <= 0) throw new TypeError('ttlSeconds must be positive');
    this.#ttlMs = Math.round(opts.ttlSeconds * 1000);
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const file = join(opts.dataDir, RELAY_DB_FILE);
    const db = new Database(file);
    try {
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
      `);
      createSentIds(db);
    } catch (e) {
      db.close();
      throw e;
    }
    this.#db = db;
    this.#stmts = {
      /** A live close of the queue, or the cid seen in the dedup window: no early announcement. */
      closedOrSent: db.prepare(
        'SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ? UNION ALL SELECT 1 FROM sent_ids WHERE cid = ? AND queue = ? AND at > ? LIMIT 1',
      ),
      // Ids are read as BigInt so 64-bit values never lose precision.
      listAll: db.prepare('SELECT id, body, received_at FROM messages WHERE queue = ? AND received_at > ? ORDER BY id LIMIT ?').safeIntegers(true),
      listAfter: db.prepare('SELECT id, body, received_at FROM messages WHERE queue = ? AND id > ? AND received_at > ? ORDER BY id LIMIT ?').safeIntegers(true),
      isClosed: db.prepare('SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ?'),
    };
    // AUTOINCREMENT's sequence: the highest id committed or reserved, also after its row went.
    // The first block is reserved here, before the writer starts and before any id is handed out.
    const seq = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").safeIntegers(true).get() as { seq: bigint } | undefined)?.seq;
    this.#nextId = (seq ?? 0n) + 1n;
    this.#reservedUpTo = this.#nextId - 1n + ID_BLOCK;
    if (seq === undefined) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)").run(this.#reservedUpTo);
    else db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'").run(this.#reservedUpTo);

    const setup: WriterSetup = { file, ttlMs: this.#ttlMs, dedupWindowMs: DEDUP_WINDOW_MS };
    this.#writer = new Worker(new URL('./sqlite-relay-writer.js', import.meta.url), { workerData: setup });
    this.#writer.unref(); // held (ref) only while a batch commits
    this.#writer.on('message', (reply: WriterReply) => this.#settle(reply));
    this.#writer.on('error', (e) => this.#fail(e));
    this.#writer.on('exit', () => this.#fail(new Error('relay store writer stopped')));
  }

  put(queue: string, body: Uint8Array, now: number, clientId?: string, early?: EarlyArrival): Promise<PutResult> {
    this.#check();
    // The id is handed out now, in put order (a put the batch then refuses leaves a gap).
    const id = this.#takeId();
    const dedupKey = clientId === undefined ? undefined : `${queue} ${clientId}`;
    // Known now whether the batch will store it: the queue has no close committed, queued or
    // committing, and the client id is new unless it is committed, queued or committing already.
    // Asked only for an early announcement (a subscription wants one, §3.6); otherwise only the
    // batch decides. And only for an id inside a reserved block that has committed.
    // Both committed checks in one statement: each read on this connection after a commit of the
    // writer's starts afresh (a new WAL snapshot, the page cache dropped), which cost more than the
    // lookups themselves (under load: two reads 11-14 us a put, one 7-9 us).
    const announce =
      early !== undefined &&
      id <= this.#reservedUpTo &&
      !this.#closing.has(queue) &&
      (dedupKey === undefined
        ? this.#stmts.isClosed.get(queue, now - this.#ttlMs) === undefined
        : !this.#pendingCids.has(dedupKey) && this.#stmts.closedOrSent.get(queue, now - this.#ttlMs, clientId, queue, now - DEDUP_WINDOW_MS) === undefined);
    if (dedupKey !== undefined) bumpCount(this.#pendingCids, dedupKey, 1);
    // Copied: the caller's buffer may be reused before the batch is written.
    const promise = this.#enqueue({ kind: 'put', queue, body: Buffer.from(body), now, clientId, id: id.toString() }) as Promise<PutResult>;
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
    return this.#enqueue({ kind: 'ack', queue, ids: [...ids] }) as Promise<number>;
  }

  close(): Promise<void>;
  close(queue: string, reason: string | undefined, now: number): Promise<void>;
  async close(queue?: string, reason?: string, now?: number): Promise<void> {
    if (queue === undefined) {
      if (!this.#open) return;
      // What was queued is answered before the database goes.
      this.#open = false;
      await this.#drain();
      this.#broken ??= new Error('relay store is closed');
      await this.#writer.terminate();
      this.#db.close();
      return;
    }
    this.#check();
    if (typeof now !== 'number') throw new TypeError('close(queue, reason, now) needs now');
    // In the same stream as the puts, so operations keep the order their callers saw.
    bumpCount(this.#closing, queue, 1);
    await this.#enqueue({ kind: 'close', queue, reason: reason ?? null, now });
  }

  async isClosed(queue: string, now: number): Promise<boolean> {
    this.#check();
    return this.#stmts.isClosed.get(queue, now - this.#ttlMs) !== undefined;
  }

  async purgeExpired(now: number): Promise<number> {
    this.#check();
    return (await this.#enqueue({ kind: 'purge', now })) as number;
  }

  /** The next id; the next block is reserved when half of this one is used. */
  #takeId(): bigint {
    if (!this.#reserving && this.#nextId > this.#reservedUpTo - ID_BLOCK / 2n) {
      this.#reserving = true;
      const upTo = this.#reservedUpTo + ID_BLOCK;
      this.#enqueue({ kind: 'reserve', upTo: upTo.toString() }).then(
        () => {
          this.#reservedUpTo = upTo;
          this.#reserving = false;
        },
        () => {
          this.#reserving = false;
        },
      );
    }
    return this.#nextId++;
  }

  #enqueue(op: WriterOp): Promise<WriterResult> {
    return new Promise((resolve, reject) => {
      if (this.#broken !== undefined) {
        reject(this.#broken);
        return;
      }
      this.#pending.push({ op, resolve, reject });
      if (this.#inFlight !== undefined || this.#scheduled) return;
      this.#scheduled = true;
      // setImmediate runs after this turn's I/O callbacks: every write read in the turn joins.
      setImmediate(() => {
        this.#scheduled = false;
        this.#send();
      });
    });
  }

  /** Hands the queued operations (up to MAX_BATCH) to the writer, if it is idle. */
  #send(): void {
    if (this.#inFlight !== undefined || this.#pending.length === 0) {
      if (this.#inFlight === undefined) for (const d of this.#drained.splice(0)) d();
      return;
    }
    const batch = this.#pending.splice(0, MAX_BATCH);
    this.#inFlight = batch;
    this.#writer.ref();
    this.#writer.postMessage(batch.map((q) => q.op));
  }

  #settle(reply: WriterReply): void {
    const batch = this.#inFlight;
    if (batch === undefined) return;
    this.#inFlight = undefined;
    this.#writer.unref();
    this.#forget(batch);
    if (reply.ok) for (let i = 0; i < batch.length; i++) batch[i]!.resolve(reply.results[i]!);
    else {
      const e = new Error(`relay store write failed: ${reply.message}`);
      for (const q of batch) q.reject(e);
    }
    // What arrived while this batch committed goes now, as one batch.
    this.#send();
  }

  /** The writer is gone: nothing queued or committing can be answered "stored". */
  #fail(e: Error): void {
    this.#broken ??= e;
    const all = [...(this.#inFlight ?? []), ...this.#pending.splice(0)];
    this.#inFlight = undefined;
    this.#forget(all);
    for (const q of all) q.reject(this.#broken);
    for (const d of this.#drained.splice(0)) d();
  }

  #forget(batch: readonly Queued[]): void {
    for (const { op } of batch) {
      if (op.kind === 'put' && op.clientId !== undefined) bumpCount(this.#pendingCids, `${op.queue} ${op.clientId}`, -1);
      else if (op.kind === 'close') bumpCount(this.#closing, op.queue, -1);
    }
  }

  /** Resolves once nothing is queued or committing. */
  #drain(): Promise<void> {
    if (this.#inFlight === undefined && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained.push(resolve);
      if (!this.#scheduled) this.#send();
    });
  }

  #check(): void {
    if (!this.#open) throw new Error('relay store is closed');
  }
}

/**
 * The dedup table, keyed by (cid, queue), cid first (§3.6): Latch's cids begin with their time
 * (§3.5), so each batch's inserts land on the last few pages of the key instead of one page per
 * queue, and a commit writes a few pages to the WAL instead of one per send. A table of the first
 * layout, (queue, cid), is rebuilt once in the new one; it holds at most 10 minutes of sends. All
 * in one IMMEDIATE transaction, the layout read inside it: a crash midway leaves the old table,
 * and a second process opening meanwhile finds one layout or the other, never half of each.
 */
function createSentIds(db: Database.Database): void {
  const create = `
    CREATE TABLE sent_ids (
      cid TEXT NOT NULL,
      queue TEXT NOT NULL,
      id INTEGER NOT NULL,
      at INTEGER NOT NULL,
      PRIMARY KEY (cid, queue)
    ) WITHOUT ROWID;
    CREATE INDEX sent_ids_by_time ON sent_ids (at);`;
  db.transaction(() => {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sent_ids'").get() === undefined) {
      db.exec(create);
      return;
    }
    const key = (db.pragma('table_info(sent_ids)') as { name: string; pk: number }[])
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name)
      .join(',');
    if (key === 'cid,queue') return;
    if (key !== 'queue,cid') throw new Error(`relay store: sent_ids has an unknown layout (primary key: ${key || 'none'})`);
    db.exec('DROP INDEX IF EXISTS sent_ids_by_time; DROP TABLE IF EXISTS sent_ids_queue_first; ALTER TABLE sent_ids RENAME TO sent_ids_queue_first;');
    db.exec(create);
    // In key order, so the copy appends instead of splitting pages all over the new tree.
    db.exec('INSERT INTO sent_ids (cid, queue, id, at) SELECT cid, queue, id, at FROM sent_ids_queue_first ORDER BY cid, queue; DROP TABLE sent_ids_queue_first;');
  }).immediate();
}
