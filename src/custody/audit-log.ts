/**
 * Append-only, hash-chained audit log of every custody decision (signed or refused).
 *   hash_n = SHA-256( hash_{n-1} ‖ canonical JSON [seq, at, account, action, decision, detail] )
 * with hash_0's predecessor 32 zero bytes. Triggers (SQLite, PostgreSQL) refuse UPDATE and DELETE, and
 * verifyAuditChain() recomputes every link, so an edit made around the triggers (another
 * tool, a dropped trigger, a restored backup) breaks the chain at the edited row.
 *
 * Several server nodes append to one chain on PostgreSQL (issue 10): each append takes the
 * chain's advisory lock inside its transaction, so two nodes never read the same head and both
 * write seq n+1 on it (the second would fail on the primary key, or fork the chain).
 */
import { createHash } from 'node:crypto';
import type { CustodyDb, SqlQueries } from './custody-db.js';

export interface AuditEntry {
  account: string | null;
  action: string;
  decision: 'signed' | 'refused' | 'accepted' | 'info';
  detail: Record<string, unknown>;
}

const GENESIS = '0'.repeat(64);

export async function migrateAudit(db: CustodyDb): Promise<void> {
  if (db.dialect === 'postgres') {
    await db.exec(`
    CREATE TABLE IF NOT EXISTS audit (
      seq BIGINT PRIMARY KEY, at TEXT NOT NULL, account TEXT, action TEXT NOT NULL,
      decision TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
    DROP TRIGGER IF EXISTS audit_no_change ON audit;
    CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    `);
    return;
  }
  await db.exec(`
    CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY, at TEXT NOT NULL, account TEXT, action TEXT NOT NULL,
      decision TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
  `);
}

function linkHash(prev: string, seq: number, at: string, account: string | null, action: string, decision: string, detail: string): string {
  return createHash('sha256').update(Buffer.from(prev, 'hex')).update(JSON.stringify([seq, at, account, action, decision, detail])).digest('hex');
}

/** Appends one entry; `q` is a transaction's queries (the caller's, when the decision changes state). */
export async function appendAudit(q: SqlQueries, e: AuditEntry): Promise<void> {
  await q.lock('latch-audit-chain');
  const last = await q.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
  const seq = (last?.seq ?? 0) + 1;
  const prev = last?.hash ?? GENESIS;
  const at = new Date().toISOString();
  const detail = JSON.stringify(e.detail);
  await q.run('INSERT INTO audit (seq, at, account, action, decision, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    seq, at, e.account, e.action, e.decision, detail, prev, linkHash(prev, seq, at, e.account, e.action, e.decision, detail),
  );
}

export type AuditVerdict = { ok: true; entries: number; head: string } | { ok: false; entries: number; badSeq: number; reason: string };

export async function verifyAuditChain(db: SqlQueries): Promise<AuditVerdict> {
  const rows = await db.all<{
    seq: number; at: string; account: string | null; action: string; decision: string; detail: string; prev_hash: string; hash: string;
  }>('SELECT * FROM audit ORDER BY seq');
  let prev = GENESIS;
  let expectSeq = 1;
  let n = 0;
  for (const r of rows) {
    n++;
    if (r.seq !== expectSeq) return { ok: false, entries: n, badSeq: r.seq, reason: `row ${expectSeq} is missing` };
    if (r.prev_hash !== prev) return { ok: false, entries: n, badSeq: r.seq, reason: 'prev_hash does not match the previous row' };
    if (linkHash(prev, r.seq, r.at, r.account, r.action, r.decision, r.detail) !== r.hash) {
      return { ok: false, entries: n, badSeq: r.seq, reason: 'row content does not match its hash (edited)' };
    }
    prev = r.hash;
    expectSeq++;
  }
  return { ok: true, entries: n, head: prev };
}
