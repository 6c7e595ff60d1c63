/**
 * The CustodyDb interface (issue 10) on both stores, through what the custody part uses: one SQL
 * text with `?` placeholders, numbers back for BIGINT, unique violations recognised, rollback on
 * a throw, and on PostgreSQL the locks that keep two processes apart (two pools stand for two
 * server nodes), and custody_db_unavailable when the server cannot be reached.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from './helpers/latch-process.js';
import { dropCustodyDatabases, freshCustodyDatabase } from './helpers/custody-pg.js';
import { isUniqueViolation, type CustodyDb } from '../src/custody/custody-db.js';
import { SqliteCustodyDb } from '../src/custody/sqlite-custody-db.js';
import { PostgresCustodyDb, numberPlaceholders } from '../src/custody/postgres-custody-db.js';
import { isLatchError } from '../src/util/latch-error.js';

after(() => dropCustodyDatabases());

const log = (): void => undefined;

async function stores(): Promise<CustodyDb[]> {
  return [SqliteCustodyDb.open(join(tempDir('cdb'), 'c.sqlite')), await PostgresCustodyDb.open(await freshCustodyDatabase(), 'latch_custody', log)];
}

test('numberPlaceholders numbers ? outside quoted text only', () => {
  assert.equal(numberPlaceholders("SELECT ? AS a, '?' AS b, ? AS c WHERE x = 'it''s?'"), "SELECT $1 AS a, '?' AS b, $2 AS c WHERE x = 'it''s?'");
});

test('one SQL text on both stores: upserts, numbers, unique violations, rollback', async () => {
  for (const db of await stores()) {
    try {
      const int = db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
      await db.exec(`CREATE TABLE t (k TEXT PRIMARY KEY, n ${int} NOT NULL)`);
      await db.run('INSERT INTO t (k, n) VALUES (?, ?)', 'a', 1_700_000_000_123);
      await db.run('INSERT INTO t (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = excluded.n', 'a', 2);
      assert.deepEqual(await db.get('SELECT k, n FROM t WHERE k = ?', 'a'), { k: 'a', n: 2 }, db.dialect);
      assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n, 1, db.dialect);
      await assert.rejects(db.run('INSERT INTO t (k, n) VALUES (?, ?)', 'a', 3), (e) => isUniqueViolation(e), db.dialect);
      await assert.rejects(
        db.tx(async (q) => {
          await q.run('INSERT INTO t (k, n) VALUES (?, ?)', 'b', 1);
          throw new Error('no');
        }),
        /no/,
      );
      assert.equal(await db.get('SELECT 1 FROM t WHERE k = ?', 'b'), undefined, `${db.dialect}: rolled back`);
      assert.equal((await db.run('UPDATE t SET n = n + 1 WHERE k = ?', 'a')).changes, 1);
    } finally {
      await db.close();
    }
  }
});

test('PostgreSQL: exclusive() and lock() keep two pools (two nodes) apart', async () => {
  const url = await freshCustodyDatabase();
  const [a, b] = [await PostgresCustodyDb.open(url, 'latch_custody', log), await PostgresCustodyDb.open(url, 'latch_custody', log)];
  try {
    await a.exec('CREATE TABLE IF NOT EXISTS c (k TEXT PRIMARY KEY, n INTEGER NOT NULL)');
    await a.run("INSERT INTO c (k, n) VALUES ('x', 0)");
    // Read, wait, write: without the lock the increments of the two nodes would overlap and be lost.
    const bump = (db: PostgresCustodyDb): Promise<void> =>
      db.exclusive('counter', async () => {
        const n = (await db.get<{ n: number }>("SELECT n FROM c WHERE k = 'x'"))!.n;
        await new Promise((r) => setTimeout(r, 20));
        await db.run("UPDATE c SET n = ? WHERE k = 'x'", n + 1);
      });
    await Promise.all([bump(a), bump(b), bump(a), bump(b), bump(a), bump(b)]);
    assert.equal((await a.get<{ n: number }>("SELECT n FROM c WHERE k = 'x'"))!.n, 6);
    const add = (db: PostgresCustodyDb): Promise<void> =>
      db.tx(async (q) => {
        await q.lock('counter-tx');
        const n = (await q.get<{ n: number }>("SELECT n FROM c WHERE k = 'x'"))!.n;
        await new Promise((r) => setTimeout(r, 20));
        await q.run("UPDATE c SET n = ? WHERE k = 'x'", n + 1);
      });
    await Promise.all([add(a), add(b), add(a), add(b)]);
    assert.equal((await b.get<{ n: number }>("SELECT n FROM c WHERE k = 'x'"))!.n, 10);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('PostgreSQL unreachable: custody_db_unavailable (503), not a crash', async () => {
  // Port 1 on loopback: nothing listens, the connection is refused.
  await assert.rejects(PostgresCustodyDb.open('postgres://postgres@127.0.0.1:1/none', 'latch_custody', log), (e) => isLatchError(e, 'custody_db_unavailable') && (e as { status: number }).status === 503);
});
