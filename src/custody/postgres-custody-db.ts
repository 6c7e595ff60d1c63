/**
 * CustodyDb on PostgreSQL (`--custody-db postgres://...`, issue 10), shared by every `latch
 * server` node. Each store keeps its tables in its own schema (custody: latch_custody, the
 * embedded ledger: latch_ledger), set as the connections' search_path, so the SQL is the same
 * as on SQLite. `?` placeholders become $1.. here; BIGINT columns (Unix seconds, counters,
 * sequence numbers) come back as numbers, refused if beyond 2^53.
 *
 * Cross-node serialization: `lock` is pg_advisory_xact_lock (held to COMMIT); `exclusive` holds
 * a session advisory lock on a connection of its own pool for a whole decision that awaits the
 * ledger between its statements (the statements use the main pool, so decisions waiting for a
 * lock never starve the connections the holder needs).
 *
 * Unreachable database: every error that means the server cannot talk to PostgreSQL (refused,
 * reset, admin shutdown, ...) becomes RetryLaterError 503 `custody_db_unavailable`, and the next
 * request tries again on a fresh connection. A transaction cut off mid-way was rolled back by
 * PostgreSQL, so nothing of it stays (a co-sign is either recorded whole or not at all).
 */
import pg from 'pg';
import { RetryLaterError } from './retry-later-error.js';
import type { CustodyDb, SqlQueries, SqlValue } from './custody-db.js';

const RETRIES = 5;
const CONNECT_TIMEOUT_MS = 5000;
const QUERY_TIMEOUT_MS = 30_000;
/** Connection loss, admin shutdown, crash shutdown, cannot connect now, connection exceptions. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_TEXT = /Connection terminated|connection error|Client was closed|timeout exceeded when trying to connect|Connection ended|Query read timeout/i;

export function isDbUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  if (e instanceof AggregateError) return e.errors.some(isDbUnavailable);
  return e instanceof Error && code === undefined && UNAVAILABLE_TEXT.test(e.message);
}

function unavailable(e: unknown): unknown {
  if (!isDbUnavailable(e)) return e;
  return new RetryLaterError('custody_db_unavailable', 'the custody database (PostgreSQL) cannot be reached; try again shortly', 1, 503);
}

/** `?` -> `$n`, outside quoted text. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  let quoted = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}

const toNumber = (text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`a BIGINT of the custody database is beyond 2^53: ${text}`);
  return n;
};

const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === pg.types.builtins.INT8 ? toNumber : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

const bind = (p: SqlValue[]): unknown[] => p.map((v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v) : v));

function queriesOn(c: pg.Pool | pg.PoolClient): SqlQueries {
  const q = async (sql: string, p: SqlValue[]): Promise<pg.QueryResult> => {
    try {
      return await c.query(numberPlaceholders(sql), bind(p));
    } catch (e) {
      throw unavailable(e);
    }
  };
  return {
    get: async <T>(sql: string, ...p: SqlValue[]) => (await q(sql, p)).rows[0] as T | undefined,
    all: async <T>(sql: string, ...p: SqlValue[]) => (await q(sql, p)).rows as T[],
    run: async (sql: string, ...p: SqlValue[]) => ({ changes: (await q(sql, p)).rowCount ?? 0 }),
    lock: async (key: string) => void (await q('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [key])),
  };
}

export class PostgresCustodyDb implements CustodyDb {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #lockPool: pg.Pool;
  readonly #q: SqlQueries;
  readonly #log: (line: string) => void;

  private constructor(url: string, readonly schema: string, log: (line: string) => void) {
    // keepAlive: a database behind a dead link (no RST) is noticed, not waited on forever.
    const config = { connectionString: url, options: `-c search_path=${schema}`, types: TYPES, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true };
    // Statements are short; one that has no answer in QUERY_TIMEOUT_MS means the database is away.
    // The lock pool has none: a decision may wait that long for another one on its account.
    this.#pool = new pg.Pool({ ...config, max: 10, query_timeout: QUERY_TIMEOUT_MS });
    this.#lockPool = new pg.Pool({ ...config, max: 20 });
    // An idle connection dropped by the server: the pool replaces it; without a listener it would end the process.
    for (const p of [this.#pool, this.#lockPool]) p.on('error', (e) => log(`custody database (${schema}): idle connection lost: ${e.message}`));
    this.#log = log;
    // Statements outside a transaction take a connection the same way a transaction does, so a
    // database that refuses connections answers custody_db_unavailable here too.
    const one = <T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> => this.#withClient(this.#pool, (c) => fn(queriesOn(c)));
    this.#q = {
      get: (sql, ...p) => one((q) => q.get(sql, ...p)),
      all: (sql, ...p) => one((q) => q.all(sql, ...p)),
      run: (sql, ...p) => one((q) => q.run(sql, ...p)),
      lock: () => this.lock(),
    };
  }

  async #withClient<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#client(pool);
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'custody_db_unavailable') broken = e as Error;
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Connects and makes `schema` (idempotent, safe when several nodes start at once); with
   * `create: false` (audit verify, which checks what is there) it only checks the connection.
   */
  static async open(url: string, schema: string, log: (line: string) => void, create = true): Promise<PostgresCustodyDb> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TypeError(`bad schema name ${schema}`);
    const db = new PostgresCustodyDb(url, schema, log);
    try {
      if (create) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      else await db.get('SELECT 1');
    } catch (e) {
      await db.close();
      throw e;
    }
    return db;
  }

  get<T>(sql: string, ...p: SqlValue[]): Promise<T | undefined> {
    return this.#q.get<T>(sql, ...p);
  }
  all<T>(sql: string, ...p: SqlValue[]): Promise<T[]> {
    return this.#q.all<T>(sql, ...p);
  }
  run(sql: string, ...p: SqlValue[]): Promise<{ changes: number }> {
    return this.#q.run(sql, ...p);
  }
  /** Outside a transaction a lock would end with its own statement: callers lock inside tx(). */
  async lock(): Promise<void> {
    throw new TypeError('lock() outside a transaction holds nothing; call it on the tx() queries');
  }

  /**
   * A connection, or custody_db_unavailable: whatever keeps this server from connecting (down,
   * restarting, refusing connections to this database) is the database being away for it. The
   * cause goes to the log, not to the client.
   */
  async #client(pool: pg.Pool): Promise<pg.PoolClient> {
    try {
      const c = await pool.connect();
      // A checked-out connection the server drops emits 'error'; the failing query reports it.
      if (c.listenerCount('error') === 0) c.on('error', () => undefined);
      return c;
    } catch (e) {
      this.#log(`custody database (${this.schema}): cannot connect: ${(e as Error).message}`);
      throw unavailable(Object.assign(new Error('cannot connect'), { code: '08001' }));
    }
  }

  async tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#client(this.#pool);
      let broken: Error | undefined;
      const q = queriesOn(client);
      try {
        await q.run('BEGIN');
        const out = await fn(q);
        await q.run('COMMIT');
        return out;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch (r) {
          broken = r as Error;
        }
        const code = (e as { code?: unknown }).code;
        // Serialization failure, deadlock: the whole transaction is safe to run again.
        if ((code === '40001' || code === '40P01') && attempt < RETRIES) continue;
        throw unavailable(e);
      } finally {
        // A connection that could not even roll back is dropped, not given to the next caller.
        client.release(broken);
      }
    }
  }

  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.#client(this.#lockPool);
    let broken: Error | undefined;
    try {
      try {
        await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      } catch (e) {
        broken = e as Error;
        throw unavailable(e);
      }
      try {
        return await fn();
      } finally {
        try {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
        } catch (e) {
          // The session is gone, and its locks with it.
          broken = e as Error;
        }
      }
    } finally {
      client.release(broken);
    }
  }

  /** DDL under one advisory lock, so nodes starting together do not race on CREATE ... IF NOT EXISTS. */
  async exec(script: string): Promise<void> {
    const client = await this.#client(this.#pool);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended('latch-ddl', 0))");
      await client.query(script);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch((r: Error) => (broken = r));
      throw unavailable(e);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#pool.end(), this.#lockPool.end()]);
  }
}
