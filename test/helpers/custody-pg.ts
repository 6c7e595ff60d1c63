/**
 * A PostgreSQL database of its own for custody tests (issue 10): on the local server
 * (127.0.0.1:5432, trust auth, user postgres), `latch_t_<random>`, dropped when the test
 * process ends. LATCH_TEST_CUSTODY_PG=1 makes every `latch server` the helpers start keep its
 * custody in such a database (one per data dir, so a restarted server finds its state), so the
 * existing custody suites run against PostgreSQL too.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import type { CustodyDb } from '../../src/custody/custody-db.js';
import { SqliteCustodyDb } from '../../src/custody/sqlite-custody-db.js';
import { PostgresCustodyDb } from '../../src/custody/postgres-custody-db.js';
import { CUSTODY_SCHEMA, LEDGER_SCHEMA } from '../../src/custody/custody-db-url.js';
import { EmbeddedLedger } from '../../src/ledger/embedded-ledger.js';

export const PG_ADMIN_URL = process.env.LATCH_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const created: string[] = [];
const byDataDir = new Map<string, Promise<string>>();
const known = new Map<string, string>();

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A new empty database; its URL. */
export async function freshCustodyDatabase(): Promise<string> {
  const name = `latch_t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  if (created.length === 0) process.once('beforeExit', () => void dropCustodyDatabases());
  created.push(name);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Drops every database this process made (also done when it ends). */
export async function dropCustodyDatabases(): Promise<void> {
  const names = created.splice(0);
  if (names.length === 0) return;
  await admin(async (c) => {
    for (const n of names) await c.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
  });
}

/** Whether servers started by the helpers use PostgreSQL (LATCH_TEST_CUSTODY_PG=1). */
export function custodyOnPg(): boolean {
  return process.env.LATCH_TEST_CUSTODY_PG === '1';
}

/** The database of the server on `dataDir` (made on first use). */
export function custodyDatabaseFor(dataDir: string): Promise<string> {
  let url = byDataDir.get(dataDir);
  if (url === undefined) byDataDir.set(dataDir, (url = freshCustodyDatabase().then((u) => (known.set(dataDir, u), u))));
  return url;
}

/** The database already made for `dataDir`, if any. */
export function custodyDatabaseOf(dataDir: string): string | undefined {
  return known.get(dataDir);
}

/**
 * The custody store of the server on `dataDir`, whichever it is (its PostgreSQL database, or
 * DATA/custody/custody.sqlite), for tests that read or alter what the server wrote. Close it.
 */
export async function custodyStoreOf(dataDir: string, opts: { readonly?: boolean } = {}): Promise<CustodyDb> {
  const url = custodyDatabaseOf(dataDir);
  if (url !== undefined) return PostgresCustodyDb.open(url, CUSTODY_SCHEMA, () => undefined, false);
  return new SqliteCustodyDb(new Database(join(dataDir, 'custody', 'custody.sqlite'), { readonly: opts.readonly ?? false }));
}

/** DDL that drops the audit table's update trigger, in the store's dialect. */
export function dropAuditUpdateTrigger(db: CustodyDb): string {
  return db.dialect === 'postgres' ? 'DROP TRIGGER audit_no_change ON audit' : 'DROP TRIGGER audit_no_update';
}

/** The embedded ledger of `dir`: its SQLite file, or under LATCH_TEST_CUSTODY_PG=1 the latch_ledger schema of dir's database. */
export async function embeddedLedgerFor(dir: string): Promise<EmbeddedLedger> {
  if (!custodyOnPg()) return EmbeddedLedger.open(dir);
  return new EmbeddedLedger(await PostgresCustodyDb.open(await custodyDatabaseFor(dir), LEDGER_SCHEMA, () => undefined));
}
