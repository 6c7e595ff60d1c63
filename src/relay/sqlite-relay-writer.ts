/**
 * The SQLite relay store's writer (PROTOCOL.md §3.6, "Group commit"): every write of the store
 * runs here, on a worker thread with its own connection, one batch per transaction. The relay's
 * event loop therefore never waits for an fsync: while this thread commits one batch, the loop
 * goes on reading sockets, delivering, and queueing the next batch. Pure request/answer over the
 * worker's message port; it holds no keys and sees only queue ids and sealed bodies.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WriterOp, WriterResult, WriterSetup } from './sqlite-relay-writer-ops.js';
import type { PutResult } from './relay-store.js';

const setup = workerData as WriterSetup;
const db = new Database(setup.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');

const stmts = {
  // One statement, so one transaction: the closed check and the insert cannot be split by a close.
  put: db.prepare(
    `INSERT INTO messages (id, queue, body, received_at)
     SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM closed_queues WHERE queue = ? AND closed_at > ?)`,
  ),
  // (cid, queue): the table's key order (sqlite-relay-store.ts, createSentIds).
  findSent: db.prepare('SELECT id FROM sent_ids WHERE cid = ? AND queue = ? AND at > ?').safeIntegers(true),
  rememberSent: db.prepare(
    `INSERT INTO sent_ids (cid, queue, id, at) VALUES (?, ?, ?, ?)
     ON CONFLICT (cid, queue) DO UPDATE SET id = excluded.id, at = excluded.at`,
  ),
  ack: db.prepare('DELETE FROM messages WHERE queue = ? AND id = ?'),
  close: db.prepare(
    `INSERT INTO closed_queues (queue, reason, closed_at) VALUES (?, ?, ?)
     ON CONFLICT (queue) DO UPDATE SET reason = excluded.reason, closed_at = excluded.closed_at`,
  ),
  purgeMessages: db.prepare('DELETE FROM messages WHERE received_at <= ?'),
  purgeClosed: db.prepare('DELETE FROM closed_queues WHERE closed_at <= ?'),
  purgeSent: db.prepare('DELETE FROM sent_ids WHERE at <= ?'),
  setSeq: db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'messages'"),
};

function put(op: Extract<WriterOp, { kind: 'put' }>): PutResult {
  const { queue, clientId, now } = op;
  if (clientId !== undefined) {
    const seen = stmts.findSent.get(clientId, queue, now - setup.dedupWindowMs) as { id: bigint } | undefined;
    if (seen !== undefined) return { ok: true, id: seen.id.toString(), duplicate: true };
  }
  const id = BigInt(op.id);
  const info = stmts.put.run(id, queue, op.body, now, queue, now - setup.ttlMs);
  if (info.changes === 0) return { ok: false, reason: 'closed' };
  if (clientId !== undefined) stmts.rememberSent.run(clientId, queue, id, now);
  return { ok: true, id: op.id, duplicate: false };
}

function apply(op: WriterOp): WriterResult {
  switch (op.kind) {
    case 'put':
      return put(op);
    case 'ack': {
      let n = 0;
      for (const id of new Set(op.ids)) n += stmts.ack.run(op.queue, BigInt(id)).changes;
      return n;
    }
    case 'close':
      stmts.close.run(op.queue, op.reason, op.now);
      return null;
    case 'purge': {
      const cutoff = op.now - setup.ttlMs;
      const n = stmts.purgeMessages.run(cutoff).changes;
      stmts.purgeClosed.run(cutoff);
      stmts.purgeSent.run(op.now - setup.dedupWindowMs);
      return n;
    }
    case 'reserve':
      stmts.setSeq.run(BigInt(op.upTo));
      return null;
  }
}

// IMMEDIATE: the write lock is taken first, waiting (busy_timeout) if another connection holds
// it; a deferred transaction that read first could not wait for it (SQLITE_BUSY).
const runBatch = db.transaction((ops: readonly WriterOp[]) => ops.map(apply));

parentPort!.on('message', (ops: WriterOp[]) => {
  // Acks alone skip the fsync: losing one to a power cut (not to kill -9: WAL commits survive a
  // process crash without fsync) only means a redelivery, answered from the replay cache (§5.5).
  const durable = ops.some((op) => op.kind !== 'ack');
  try {
    if (!durable) db.pragma('synchronous = NORMAL');
    try {
      parentPort!.postMessage({ ok: true, results: runBatch.immediate(ops) });
    } finally {
      if (!durable) db.pragma('synchronous = FULL');
    }
  } catch (e) {
    parentPort!.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});
