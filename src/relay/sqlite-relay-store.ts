/**
 * RelayStore on SQLite (better-sqlite3). WAL with synchronous=FULL so that a put
 * which has returned survives kill -9 and power loss (PROTOCOL.md §3.6: 201 means durable).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PutResult, RelayStore, StoredMessage } from './relay-store.js';

export const RELAY_DB_FILE = 'relay.sqlite';

export class SqliteRelayStore implements RelayStore {
  readonly #db: Database.Database;
  readonly #ttlMs: number;
  readonly #stmts: {
    put: Database.Statement;
    listAll: Database.Statement;
    listAfter: Database.Statement;
    ack: Database.Statement;
    close: Database.Statement;
    isClosed: Database.Statement;
    purgeMessages: Database.Statement;
    purgeClosed: Database.Statement;
  };
  readonly #ackMany: (queue: string, ids: readonly string[]) => number;
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
    `);
    this.#db = db;
    this.#stmts = {
      // One statement, so one transaction: the closed check and the insert cannot be split by a close.
      put: db.prepare(
        `INSERT INTO messages (queue, body, received_at)
         SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ?)`,
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
    };
    // Ids are bound as BigInt so 64-bit values never lose precision.
    this.#stmts.listAfter.safeIntegers(true);
    this.#stmts.listAll.safeIntegers(true);
    this.#ackMany = db.transaction((queue: string, ids: readonly string[]) => {
      let n = 0;
      for (const id of new Set(ids)) n += this.#stmts.ack.run(queue, BigInt(id)).changes;
      return n;
    });
  }

  async put(queue: string, body: Uint8Array, now: number): Promise<PutResult> {
    this.#check();
    const info = this.#stmts.put.run(queue, Buffer.from(body.buffer, body.byteOffset, body.byteLength), now, queue, now - this.#ttlMs);
    if (info.changes === 0) return { ok: false, reason: 'closed' };
    return { ok: true, id: String(info.lastInsertRowid) };
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

  async ack(queue: string, ids: readonly string[]): Promise<number> {
    this.#check();
    // An ack only deletes. Losing one to a power cut (not to kill -9: WAL commits survive a
    // process crash without fsync) just means a redelivery, which receivers answer from their
    // replay cache (PROTOCOL.md §5.5). So acks skip the fsync that puts must pay.
    this.#db.pragma('synchronous = NORMAL');
    try {
      return this.#ackMany(queue, ids);
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  close(): Promise<void>;
  close(queue: string, reason: string | undefined, now: number): Promise<void>;
  async close(queue?: string, reason?: string, now?: number): Promise<void> {
    if (queue === undefined) {
      if (this.#open) {
        this.#open = false;
        this.#db.close();
      }
      return;
    }
    this.#check();
    if (typeof now !== 'number') throw new TypeError('close(queue, reason, now) needs now');
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
    return n;
  }

  #check(): void {
    if (!this.#open) throw new Error('relay store is closed');
  }
}
