/**
 * The audit log (issue 15 §5) against a real `latch server`: its head is anchored outside the
 * database, so `latch server audit verify` sees truncation, a deleted row with the chain rebuilt,
 * and all rows deleted; verify opens the database read-only; refusals without a token are
 * counted per address and minute instead of one row each.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { latchRun, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { custodyCall, sdkLogin } from './helpers/custody-env.js';
import { parseAmount } from '../src/ledger/flow/json-cadence.js';
import { custodyOnPg, custodyStoreOf } from './helpers/custody-pg.js';

/** These copy and alter the SQLite file; under LATCH_TEST_CUSTODY_PG=1 there is none (custody-postgres.test.ts verifies the PostgreSQL chain). */
const SQLITE_FILE = custodyOnPg() && 'alters the SQLite custody file';

let server: LatchServer;
let address: string;

before(async () => {
  server = await startLatchServer();
  const ada = await sdkLogin(server, 'ada@example.com');
  address = (await ada.client.createAccount({ deviceName: 'phone' })).address;
  const bob = await sdkLogin(server, 'bob@example.com');
  const to = (await bob.client.createAccount({ deviceName: 'bob' })).address;
  for (const amount of ['1', '2', '3']) await ada.client.transfer({ address, to, amount: parseAmount(amount), device: { keyIndex: 0, signer: ada.signer } });
  await server.stop();
});

/** A copy of the stopped server's data, changed by `tamper` (triggers dropped first). */
function tampered(tamper: (db: Database.Database) => void): string {
  const dir = tempDir('audit');
  cpSync(server.dataDir, dir, { recursive: true });
  const db = new Database(join(dir, 'custody', 'custody.sqlite'));
  db.exec('DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;');
  tamper(db);
  db.close();
  return dir;
}

const verify = (dir: string) => latchRun(['server', 'audit', 'verify', '--data', dir, '--json']);

test('an untouched log verifies against its anchor', { skip: SQLITE_FILE }, async () => {
  const r = await verify(tampered(() => {}));
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { ok: boolean; entries: number; lastAnchoredSeq: number };
  assert.equal(v.ok, true);
  assert.ok(v.entries >= 7);
  assert.equal(v.lastAnchoredSeq, v.entries);
});

test('truncating the last rows is detected', { skip: SQLITE_FILE }, async () => {
  for (const n of [1, 3]) {
    const r = await verify(tampered((db) => db.prepare('DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit) - ?').run(n)));
    assert.equal(r.code, 1, `${n}: ${r.stdout}`);
    assert.match(JSON.parse(r.stdout).reason, /gone from the database/);
  }
});

test('deleting every row is detected', { skip: SQLITE_FILE }, async () => {
  const r = await verify(tampered((db) => db.prepare('DELETE FROM audit').run()));
  assert.equal(r.code, 1, r.stdout);
});

test('deleting a middle row and re-hashing the rest is detected', { skip: SQLITE_FILE }, async () => {
  const r = await verify(
    tampered((db) => {
      const rows = db.prepare('SELECT * FROM audit ORDER BY seq').all() as { seq: number; at: string; account: string | null; action: string; decision: string; detail: string }[];
      db.prepare('DELETE FROM audit').run();
      let prev = '0'.repeat(64);
      const ins = db.prepare('INSERT INTO audit (seq, at, account, action, decision, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      // Drop row 3, renumber, and recompute every link as the server would.
      rows.filter((x) => x.seq !== 3).forEach((x, i) => {
        const seq = i + 1;
        const hash = createHash('sha256').update(Buffer.from(prev, 'hex')).update(JSON.stringify([seq, x.at, x.account, x.action, x.decision, x.detail])).digest('hex');
        ins.run(seq, x.at, x.account, x.action, x.decision, x.detail, prev, hash);
        prev = hash;
      });
    }),
  );
  assert.equal(r.code, 1, r.stdout);
  assert.match(JSON.parse(r.stdout).reason, /anchored hash|gone/);
});

test('verify opens the database read-only: it recreates nothing', { skip: SQLITE_FILE }, async () => {
  const dir = tampered(() => {});
  const r = await verify(dir);
  assert.equal(r.code, 0, r.stderr);
  const db = new Database(join(dir, 'custody', 'custody.sqlite'), { readonly: true });
  const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'").all();
  db.close();
  assert.deepEqual(triggers, []);
  // A dropped audit table is reported, not silently recreated.
  const gone = tampered((db) => db.exec('DROP TABLE audit'));
  const g = await verify(gone);
  assert.equal(g.code, 1);
  const db2 = new Database(join(gone, 'custody', 'custody.sqlite'), { readonly: true });
  assert.equal((db2.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'audit'").get() as { n: number }).n, 0);
  db2.close();
});

test('refusals without a token: one row per address and minute, plus a count', async () => {
  const s = await startLatchServer();
  const rows = async () => {
    const db = await custodyStoreOf(s.dataDir, { readonly: true });
    const n = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit'))!.n;
    const summary = await db.all<{ detail: string }>("SELECT detail FROM audit WHERE action = 'refused-requests'");
    await db.close();
    return { n, summary };
  };
  const before = (await rows()).n;
  for (let i = 0; i < 100; i++) {
    const r = await custodyCall(s, 'POST', `/accounts/${address}/cosign`, { token: 'not-a-token-at-all', body: { transaction: {} } });
    assert.equal(r.status, 401);
  }
  assert.equal((await rows()).n - before, 1);
  await s.stop();
  const after = await rows();
  assert.equal(after.n - before, 2);
  assert.equal(JSON.parse(after.summary[0]!.detail).count, 99);
});
