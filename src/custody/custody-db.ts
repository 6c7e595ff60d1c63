/**
 * The custody store as the custody part sees it (issue 10): SQL with `?` placeholders, run
 * asynchronously, so the same service code runs on the embedded SQLite file (the default,
 * sqlite-custody-db.ts) and on a PostgreSQL database several `latch server` processes share
 * (postgres-custody-db.ts). The service never knows which one it has. Schema DDL differs per
 * dialect and lives with each table's owner; every other statement is written once, in the SQL
 * both engines take (ON CONFLICT upserts, no INSERT OR REPLACE, no rowid).
 */

export type SqlValue = string | number | bigint | null | Uint8Array;

/** Statements, inside or outside a transaction. */
export interface SqlQueries {
  get<T>(sql: string, ...params: SqlValue[]): Promise<T | undefined>;
  all<T>(sql: string, ...params: SqlValue[]): Promise<T[]>;
  run(sql: string, ...params: SqlValue[]): Promise<{ changes: number }>;
  /**
   * Inside a transaction: holds `key` until it ends, so the check-then-write it guards is
   * serialized across every process sharing the database (PostgreSQL advisory xact lock). On
   * SQLite a write transaction already excludes every other writer, so it is a no-op there.
   */
  lock(key: string): Promise<void>;
}

export interface CustodyDb extends SqlQueries {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * One transaction: committed when `fn` resolves, rolled back when it throws. Inside, use only
   * `q` (a second `tx` from inside would wait on the first). PostgreSQL retries `fn` whole on a
   * serialization failure or deadlock, so `fn` must have no effects outside the database.
   */
  tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding `key` across processes, for a decision that reads, waits on the
   * ledger and then writes in several steps (account-lock.ts). SQLite has one writer process,
   * so the caller's in-process queue is the whole lock there and this just runs `fn`.
   */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** DDL, as one script in this dialect. */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

/** Whether `e` is a primary-key or unique violation, in either engine. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}
