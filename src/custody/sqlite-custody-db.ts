/**
 * CustodyDb on one better-sqlite3 connection (the default store). better-sqlite3 is synchronous,
 * but a custody transaction is async (it may await a key unwrap between statements), and every
 * statement on the shared connection would join a transaction left open meanwhile. So every
 * statement and transaction waits its turn in one queue; a transaction is BEGIN IMMEDIATE ..
 * COMMIT around `fn`, and the statements inside it run directly.
 */
import Database from 'better-sqlite3';
import type { CustodyDb, SqlQueries, SqlValue } from './custody-db.js';

const bind = (params: SqlValue[]): unknown[] => params.map((p) => (p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p) : p));

export class SqliteCustodyDb implements CustodyDb {
  readonly dialect = 'sqlite' as const;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #direct: SqlQueries;

  constructor(readonly db: Database.Database) {
    const d = db;
    this.#direct = {
      get: async <T>(sql: string, ...p: SqlValue[]) => d.prepare(sql).get(...bind(p)) as T | undefined,
      all: async <T>(sql: string, ...p: SqlValue[]) => d.prepare(sql).all(...bind(p)) as T[],
      run: async (sql: string, ...p: SqlValue[]) => ({ changes: d.prepare(sql).run(...bind(p)).changes }),
      lock: async () => undefined,
    };
  }

  /** Opens `path` with the pragmas the custody and ledger files have always used. */
  static open(path: string, pragmas: string[] = []): SqliteCustodyDb {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    for (const p of pragmas) db.pragma(p);
    return new SqliteCustodyDb(db);
  }

  #turn<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  get<T>(sql: string, ...p: SqlValue[]): Promise<T | undefined> {
    return this.#turn(() => this.#direct.get<T>(sql, ...p));
  }
  all<T>(sql: string, ...p: SqlValue[]): Promise<T[]> {
    return this.#turn(() => this.#direct.all<T>(sql, ...p));
  }
  run(sql: string, ...p: SqlValue[]): Promise<{ changes: number }> {
    return this.#turn(() => this.#direct.run(sql, ...p));
  }
  async lock(): Promise<void> {}

  tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    return this.#turn(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this.#direct);
        this.db.exec('COMMIT');
        return out;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    });
  }

  exclusive<T>(_key: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  exec(script: string): Promise<void> {
    return this.#turn(async () => void this.db.exec(script));
  }

  async close(): Promise<void> {
    await this.#turn(async () => {
      if (this.db.open) this.db.close();
    });
  }
}
