/**
 * Early delivery (protocol 3, PROTOCOL.md §3.6): a subscription that asks for it gets a message
 * before the relay's commit; every other subscription, and the sender's "stored", only after it.
 * Against a real relay process on SQLite. The commit is held back deterministically, not by
 * timing: the test takes SQLite's write lock on the relay's database, so the relay's batch waits
 * (busy_timeout) until the test lets go. kill -9 while the lock is held loses the batch: the
 * message was delivered early but never stored, the sender (no "stored") sends it again with
 * the same cid, and the reader sees it a second time under a new id, never a reused one.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encodeBase64url } from '../src/protocol/base64url.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { newQueue, octets, type TestQueue } from './helpers/relay-keys.js';
import { openWsClient, type WsTestClient } from './helpers/ws-test-client.js';

const open = (url: string) => openWsClient(url, 65536);
type Client = WsTestClient;

const subscribe = (q: TestQueue, early: boolean) => ({ op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}`), deliver: true, ...(early ? { early: true } : {}) });
const sendFrame = (q: TestQueue, cid: string, text: string) => ({ op: 'send', queue: q.id, cid, body: encodeBase64url(octets(text)) });

async function subscribed(c: Client, q: TestQueue, early: boolean): Promise<void> {
  c.send(subscribe(q, early));
  assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id });
}

/** SQLite's write lock on the relay's database, held by this test process until released. */
function holdWriteLock(dataDir: string): { release(): void } {
  const db = new Database(join(dataDir, 'relay.sqlite'));
  db.exec('BEGIN IMMEDIATE');
  return {
    release: () => {
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

const servers: LatchServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
});

test('early: the asking subscription gets the message before the commit; "stored" and the other subscription only after it', async () => {
  const server = await startLatchServer({ args: ['--rate-limit', 'off'] });
  servers.push(server);
  const q = await newQueue();
  const early = await open(server.url);
  const late = await open(server.url);
  const writer = await open(server.url);
  try {
    await subscribed(early, q, true);
    await subscribed(late, q, false);

    const lock = holdWriteLock(server.dataDir);
    let delivered: any;
    try {
      writer.send(sendFrame(q, 'cid-early-000000001', 'first'));
      delivered = await early.next();
      assert.equal(delivered.op, 'deliver');
      assert.equal(Buffer.from(delivered.body, 'base64url').toString(), 'first');
      // The commit cannot have happened: this process holds the write lock.
      assert.deepEqual(writer.frames, [], 'no "stored" before the commit');
      assert.deepEqual(late.frames, [], 'no delivery before the commit to a subscription that did not ask');
    } finally {
      lock.release();
    }
    assert.deepEqual(await writer.next(), { op: 'stored', cid: 'cid-early-000000001', id: delivered.id, reader: 'live' });
    const afterCommit = await late.next();
    assert.equal(afterCommit.op, 'deliver');
    assert.equal(afterCommit.id, delivered.id, 'the id handed out early is the stored one');

    // Not delivered twice to the early subscription: its next frame is the next message.
    writer.send(sendFrame(q, 'cid-early-000000002', 'second'));
    const next = await early.next();
    assert.equal(next.op, 'deliver');
    assert.equal(Buffer.from(next.body, 'base64url').toString(), 'second');
    assert.ok(BigInt(next.id) > BigInt(delivered.id));
  } finally {
    for (const c of [early, late, writer]) c.close();
  }
});

test('early, then kill -9 before the commit: the sender sends again (same cid), stored once, and the reader sees it again under a new id', async () => {
  const server = await startLatchServer({ args: ['--rate-limit', 'off'] });
  servers.push(server);
  const q = await newQueue();
  let reader = await open(server.url);
  let writer = await open(server.url);
  await subscribed(reader, q, true);

  const lock = holdWriteLock(server.dataDir);
  let lost: any;
  try {
    writer.send(sendFrame(q, 'cid-crash-000000001', 'signed request'));
    lost = await reader.next();
    assert.equal(lost.op, 'deliver');
    assert.deepEqual(writer.frames, []);
    await server.kill9(); // the batch dies with the relay, uncommitted
  } finally {
    lock.release();
  }
  reader.close();
  writer.close();

  const again = await startLatchServer({ dataDir: server.dataDir, port: server.port, args: ['--rate-limit', 'off'] });
  servers.push(again);
  reader = await open(again.url);
  writer = await open(again.url);
  try {
    await subscribed(reader, q, true);
    assert.deepEqual(reader.frames, [], 'nothing of the lost batch was stored');
    // The sender never heard "stored", so it sends again, with the same cid (§3.7).
    writer.send(sendFrame(q, 'cid-crash-000000001', 'signed request'));
    const stored = await writer.next();
    assert.equal(stored.op, 'stored');
    const redelivered = await reader.next();
    assert.equal(redelivered.op, 'deliver');
    assert.equal(redelivered.id, stored.id);
    assert.equal(Buffer.from(redelivered.body, 'base64url').toString(), 'signed request');
    // A duplicate for the reader (its replay cache answers it, §5.5), under an id it never saw.
    assert.ok(BigInt(redelivered.id) > BigInt(lost.id), `id ${redelivered.id} after the lost ${lost.id}`);
    // Stored once: a third send with that cid is the same message.
    writer.send(sendFrame(q, 'cid-crash-000000001', 'signed request'));
    assert.deepEqual(await writer.next(), { op: 'stored', cid: 'cid-crash-000000001', id: stored.id });
  } finally {
    reader.close();
    writer.close();
  }
});

test('early: a resent cid that has committed, and a send to a queue whose close has committed, are never announced early', async () => {
  const server = await startLatchServer({ args: ['--rate-limit', 'off'] });
  servers.push(server);
  const q = await newQueue();
  const shut = await newQueue();
  const reader = await open(server.url);
  const writer = await open(server.url);
  try {
    await subscribed(reader, q, true);
    await subscribed(reader, shut, true);
    writer.send(sendFrame(q, 'cid-dup-0000000001', 'once'));
    const first = await reader.next();
    assert.equal(first.op, 'deliver');
    assert.equal((await writer.next()).op, 'stored');
    await new RelayClient({ url: server.url }).close(shut, 'done');

    const lock = holdWriteLock(server.dataDir);
    try {
      // Both are decided from what has committed (one read for the two checks, §3.6). Frames of one
      // socket are handled in order, so the marker's early delivery comes after anything they caused.
      writer.send(sendFrame(q, 'cid-dup-0000000001', 'once'));
      writer.send(sendFrame(shut, 'cid-shut-000000001', 'too late'));
      writer.send(sendFrame(q, 'cid-mark-000000001', 'marker'));
      const next = await reader.next();
      assert.equal(next.op, 'deliver');
      assert.equal(Buffer.from(next.body, 'base64url').toString(), 'marker', 'the first early delivery is the marker');
    } finally {
      lock.release();
    }
    const answers = [await writer.next(), await writer.next(), await writer.next()];
    assert.deepEqual(answers[0], { op: 'stored', cid: 'cid-dup-0000000001', id: first.id });
    assert.equal(answers[1].op, 'error');
    assert.equal(answers[1].code, 'queue_closed');
    assert.equal(answers[2].op, 'stored');
  } finally {
    reader.close();
    writer.close();
  }
});

test('RelayClient: an inbox with `early` subscribes for it and yields before the commit; one without waits for it', async () => {
  const server = await startLatchServer({ args: ['--rate-limit', 'off'] });
  servers.push(server);
  const q = await newQueue();
  const abort = new AbortController();
  const readers = [new RelayClient({ url: server.url }), new RelayClient({ url: server.url })];
  const seen: { early: boolean; body: string }[] = [];
  const status: Promise<void>[] = [];
  for (const [i, relay] of readers.entries()) {
    const early = i === 0;
    let connected!: () => void;
    status.push(new Promise((r) => (connected = r)));
    void (async () => {
      for await (const m of relay.inbox(q, { signal: abort.signal, early, onStatus: (s) => s === 'connected' && connected() })) {
        seen.push({ early, body: Buffer.from(m.body).toString() });
      }
    })().catch(() => undefined);
  }
  const writer = await open(server.url);
  try {
    await Promise.all(status);
    const lock = holdWriteLock(server.dataDir);
    try {
      writer.send(sendFrame(q, 'cid-client-00000001', 'request'));
      for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(seen, [{ early: true, body: 'request' }], 'only the early inbox has it before the commit');
      assert.deepEqual(writer.frames, []);
    } finally {
      lock.release();
    }
    assert.equal((await writer.next()).op, 'stored');
    for (let i = 0; i < 500 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, [{ early: true, body: 'request' }, { early: false, body: 'request' }]);
  } finally {
    abort.abort();
    writer.close();
  }
});

test('early: a message passed over while the reader was congested is delivered after its commit, and a later one does not overtake it', { timeout: 120_000 }, async () => {
  const server = await startLatchServer({ args: ['--rate-limit', 'off'] });
  servers.push(server);
  const q = await newQueue();
  const other = await newQueue();
  const reader = await open(server.url);
  const writer = await open(server.url);
  try {
    await subscribed(reader, q, true);
    // Congest the reader: it stops reading its socket while the relay has 12 MB for it, more
    // than the loopback buffers take, so the relay's own buffer passes its limit (§3.5).
    const raw = (reader.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    const big = 'x'.repeat(60_000);
    const BIG = 200;
    for (let i = 0; i < BIG; i++) writer.send(sendFrame(q, `cid-congest-${String(i).padStart(7, '0')}`, big));
    for (let i = 0; i < BIG; i++) assert.equal((await writer.next()).op, 'stored');

    const lock = holdWriteLock(server.dataDir);
    try {
      writer.send(sendFrame(q, 'cid-congest-first001', 'A'));
      // The relay has read the send (and passed over its early announcement) once it answers a
      // later frame on the same socket, which needs no commit.
      writer.send(subscribe(other, false));
      assert.deepEqual(await writer.next(), { op: 'subscribed', queue: other.id });
      raw.resume();
      for (let i = 0; i < BIG; i++) {
        const d = await reader.next();
        assert.equal(d.op, 'deliver');
        assert.equal(Buffer.from(d.body, 'base64url').length, big.length, `delivery ${i} is one of the big messages`);
      }
      // The reader has everything committed; A is not committed yet. B must not go out early
      // ahead of A: it would move the reader's cursor past A for good.
      writer.send(sendFrame(q, 'cid-congest-second01', 'B'));
      writer.send(subscribe(other, false));
      assert.deepEqual(await writer.next(), { op: 'subscribed', queue: other.id });
    } finally {
      lock.release();
    }
    const first = await reader.next();
    const second = await reader.next();
    assert.deepEqual(
      [first, second].map((d) => [d.op, Buffer.from(d.body, 'base64url').toString()]),
      [
        ['deliver', 'A'],
        ['deliver', 'B'],
      ],
    );
    assert.ok(BigInt(first.id) < BigInt(second.id));
  } finally {
    reader.close();
    writer.close();
  }
});
