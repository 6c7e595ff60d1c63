/**
 * One suite over both relay stores (issue 10: "a single test suite runs against both stores"):
 * the embedded SQLite store and JetStream on a nats-server this file starts on a free port.
 * Each test gets a fresh store: a new temp dir, or a new stream and subject prefix.
 * Where the stores differ on purpose, the test says so through `kind`: JetStream expires by
 * wall clock (max_age, the duplicate window), SQLite by the `now` it is given.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { RELAY_DB_FILE, SqliteRelayStore } from '../src/relay/sqlite-relay-store.js';
import { JetStreamRelayStore } from '../src/relay/jetstream-relay-store.js';
import type { RelayStore } from '../src/relay/relay-store.js';
import { startNats, type NatsCluster } from './helpers/nats-cluster.js';

const Q1 = 'AAAAAAAAAAAAAAAAAAAAAA';
const Q2 = 'BBBBBBBBBBBBBBBBBBBBBA';

let nats: NatsCluster;
before(async () => {
  nats = await startNats(1);
});
after(async () => {
  await nats.stop();
});

type Kind = 'sqlite' | 'jetstream';
interface Made {
  store: RelayStore;
  /** A second store on the same data: a reopen (SQLite) or another node (JetStream). */
  reopen(): Promise<RelayStore>;
  cleanup(): void;
}
let streams = 0;

async function makeStore(kind: Kind, ttlSeconds = 100): Promise<Made> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latch-relay-store-'));
    return {
      store: new SqliteRelayStore({ dataDir: dir, ttlSeconds }),
      reopen: async () => new SqliteRelayStore({ dataDir: dir, ttlSeconds }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const n = ++streams;
  const open = () => JetStreamRelayStore.open({ servers: [nats.nodes[0]!.url], ttlSeconds, stream: `T${n}`, subjectPrefix: `t${n}` });
  return { store: await open(), reopen: open, cleanup: () => {} };
}

/** put() that must succeed (the queue is open); returns the id. */
async function put(store: RelayStore, queue: string, body: Uint8Array, now: number): Promise<string> {
  const r = await store.put(queue, body, now);
  assert.ok(r.ok, 'queue unexpectedly closed');
  return r.id;
}

for (const kind of ['sqlite', 'jetstream'] as const) {
  test(`${kind}: put/list/ack keep queues apart, ids increase, ack is idempotent`, async () => {
    const { store, cleanup } = await makeStore(kind);
    try {
      const a = await put(store, Q1, new Uint8Array([1]), 1000);
      const b = await put(store, Q2, new Uint8Array([2]), 1000);
      const c = await put(store, Q1, new Uint8Array([3]), 1001);
      assert.ok(BigInt(a) < BigInt(b) && BigInt(b) < BigInt(c));
      assert.deepEqual((await store.list(Q1, undefined, 100, 2000)).map((m) => m.id), [a, c]);
      assert.deepEqual((await store.list(Q1, a, 100, 2000)).map((m) => m.id), [c]);
      assert.deepEqual((await store.list(Q1, undefined, 1, 2000)).map((m) => m.id), [a]);
      assert.equal(await store.ack(Q2, [a]), 0, 'another queue cannot ack this message');
      assert.equal(await store.ack(Q1, [a, a, '999']), 1);
      assert.equal(await store.ack(Q1, [a]), 0);
      assert.deepEqual((await store.list(Q1, undefined, 100, 2000)).map((m) => [m.id, [...m.body], m.receivedAt]), [[c, [3], 1001]]);
    } finally {
      await store.close();
      cleanup();
    }
  });

  test(`${kind}: TTL hides old messages and closed markers; purgeExpired deletes them`, async () => {
    const { store, cleanup } = await makeStore(kind, 10);
    try {
      await put(store, Q1, new Uint8Array([1]), 0);
      const young = await put(store, Q1, new Uint8Array([2]), 5000);
      await store.close(Q2, 'paired', 0);
      assert.equal(await store.isClosed(Q2, 9999), true);
      assert.equal(await store.isClosed(Q2, 10000), false);
      assert.deepEqual((await store.list(Q1, undefined, 100, 10000)).map((m) => m.id), [young]);
      if (kind === 'sqlite') {
        assert.equal(await store.purgeExpired(10000), 1);
        assert.equal(await store.purgeExpired(10000), 0);
        assert.deepEqual((await store.list(Q1, undefined, 100, 0)).map((m) => m.id), [young], 'the old row is gone, not just hidden');
      } else {
        // JetStream deletes by its own clock (the stream's max_age is the TTL); the sweep has nothing to do.
        assert.equal(await store.purgeExpired(10000), 0);
      }
    } finally {
      await store.close();
      cleanup();
    }
  });

  test(`${kind}: messages and ids survive reopening the database`, async () => {
    const { store, reopen, cleanup } = await makeStore(kind);
    try {
      const a = await put(store, Q1, new Uint8Array([9, 9]), 1);
      await store.close();
      const again = await reopen();
      assert.deepEqual((await again.list(Q1, undefined, 10, 2)).map((m) => m.id), [a]);
      await again.ack(Q1, [a]);
      const b = await put(again, Q1, new Uint8Array([1]), 3);
      assert.ok(BigInt(b) > BigInt(a), 'AUTOINCREMENT never reuses an acked id');
      await again.close();
    } finally {
      cleanup();
    }
  });

  test(`${kind}: property: arbitrary bodies round-trip through the store in order`, async () => {
    const { store, cleanup } = await makeStore(kind);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }), { minLength: 1, maxLength: 10 }), async (bodies) => {
          const ids: string[] = [];
          for (const b of bodies) ids.push(await put(store, Q1, b, 50));
          const got = await store.list(Q1, undefined, 100, 50);
          assert.deepEqual(got.map((m) => m.id), ids);
          assert.deepEqual(got.map((m) => [...m.body]), bodies.map((b) => [...b]));
          assert.equal(await store.ack(Q1, ids), ids.length);
        }),
        { numRuns: 100 },
      );
    } finally {
      await store.close();
      cleanup();
    }
  });

  test(`${kind}: put refuses a closed queue in the same step as the insert, until the marker expires`, async () => {
    const { store, cleanup } = await makeStore(kind, 10);
    try {
      await store.close(Q1, 'paired', 1000);
      assert.deepEqual(await store.put(Q1, new Uint8Array([1]), 1001), { ok: false, reason: 'closed' });
      assert.deepEqual(await store.list(Q1, undefined, 100, 1001), [], 'nothing was stored');
      assert.equal((await store.put(Q2, new Uint8Array([1]), 1001)).ok, true, 'other queues are unaffected');
      assert.equal((await store.put(Q1, new Uint8Array([2]), 11000)).ok, true, 'the closed marker expired with the TTL');
    } finally {
      await store.close();
      cleanup();
    }
  });

  test(`${kind}: a put with a client message id seen before stores nothing and answers the first id, also after its ack and across a reopen`, async () => {
    const { store, reopen, cleanup } = await makeStore(kind);
    try {
      // Concurrent puts of one turn are written in one transaction (group commit) and all answered.
      const results = await Promise.all([
        store.put(Q1, new Uint8Array([1]), 1000, 'cid-aaaaaaaaaaaaaaaa'),
        store.put(Q1, new Uint8Array([1]), 1000, 'cid-aaaaaaaaaaaaaaaa'),
        store.put(Q2, new Uint8Array([2]), 1000, 'cid-aaaaaaaaaaaaaaaa'),
        store.put(Q1, new Uint8Array([3]), 1000),
      ]);
      const [a, b, c, d] = results.map((r) => (r.ok ? r : assert.fail('closed')));
      assert.deepEqual([a!.duplicate, b!.duplicate, c!.duplicate, d!.duplicate], [false, true, false, false]);
      assert.equal(b!.id, a!.id, 'the retry got the first id');
      assert.notEqual(c!.id, a!.id, 'another queue, another message');
      assert.deepEqual((await store.list(Q1, undefined, 100, 1001)).map((m) => m.id), [a!.id, d!.id]);
      assert.equal(await store.ack(Q1, [a!.id]), 1);
      const again = await store.put(Q1, new Uint8Array([1]), 2000, 'cid-aaaaaaaaaaaaaaaa');
      assert.deepEqual(again, { ok: true, id: a!.id, duplicate: true });
      await store.close();
      const reopened = await reopen();
      try {
        assert.deepEqual(await reopened.put(Q1, new Uint8Array([1]), 3000, 'cid-aaaaaaaaaaaaaaaa'), { ok: true, id: a!.id, duplicate: true });
        if (kind === 'sqlite') {
          // Past the dedup window (10 min) the id is forgotten by the sweep. (JetStream's duplicate
          // window runs on the server's clock, so a `now` in the future does not reach it.)
          await reopened.purgeExpired(1000 + 10 * 60 * 1000 + 1);
          const late = await reopened.put(Q1, new Uint8Array([1]), 1000 + 10 * 60 * 1000 + 2, 'cid-aaaaaaaaaaaaaaaa');
          assert.ok(late.ok && !late.duplicate && late.id !== a!.id);
        }
      } finally {
        await reopened.close();
      }
    } finally {
      await store.close();
      cleanup();
    }
  });

  test(`${kind}: sends racing a close from two writers: every stored message is listed, and nothing is stored once the close returned`, async () => {
    const { store, reopen, cleanup } = await makeStore(kind);
    const other = await reopen(); // another relay node (JetStream) or connection (SQLite) on the same data
    try {
      const writers = [store, other];
      const puts = Array.from({ length: 40 }, (_, i) => writers[i % 2]!.put(Q1, new Uint8Array([i]), 1000));
      const closing = store.close(Q1, 'paired', 1000);
      const results = await Promise.all(puts);
      await closing;
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => writers[i % 2]!.put(Q1, new Uint8Array([i]), 1001)));
      assert.ok(after.every((r) => !r.ok), 'every send after the close returned is refused');
      const stored = results.flatMap((r) => (r.ok ? [r.id] : []));
      const listed = (await other.list(Q1, undefined, 100, 1002)).map((m) => m.id);
      assert.deepEqual(listed, [...stored].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), 'stored means listed, in id order');
      assert.equal(await other.isClosed(Q1, 1002), true);
      assert.equal(await other.ack(Q1, listed), listed.length, 'a closed queue can still be drained');
    } finally {
      await other.close();
      await store.close();
      cleanup();
    }
  });
}

test('sqlite: a database whose dedup table has the first key order, (queue, cid), is rebuilt once and keeps every client message id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-relay-store-'));
  try {
    // The layout the store wrote before the dedup key became (cid, queue) (§3.6).
    const old = new Database(join(dir, RELAY_DB_FILE));
    old.exec(`
      CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL, received_at INTEGER NOT NULL);
      CREATE INDEX messages_by_queue ON messages (queue, id);
      CREATE INDEX messages_by_time ON messages (received_at);
      CREATE TABLE closed_queues (queue TEXT PRIMARY KEY, reason TEXT, closed_at INTEGER NOT NULL);
      CREATE TABLE sent_ids (queue TEXT NOT NULL, cid TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (queue, cid)) WITHOUT ROWID;
      CREATE INDEX sent_ids_by_time ON sent_ids (at);
      INSERT INTO messages (id, queue, body, received_at) VALUES (7, '${Q1}', x'01', 1000);
      INSERT INTO sent_ids (queue, cid, id, at) VALUES ('${Q1}', 'cid-aaaaaaaaaaaaaaaa', 7, 1000), ('${Q2}', 'cid-bbbbbbbbbbbbbbbb', 5, 900);
    `);
    old.close();
    /** The dedup table's key, and its root page (a rebuilt table gets a new one). */
    const layout = (): { key: string[]; root: number } => {
      const db = new Database(join(dir, RELAY_DB_FILE), { readonly: true });
      try {
        const cols = db.pragma('table_info(sent_ids)') as { name: string; pk: number }[];
        const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'sent_ids'").get() as { rootpage: number };
        return { key: cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name), root: rootpage };
      } finally {
        db.close();
      }
    };
    let firstRoot = 0;
    for (let open = 0; open < 2; open++) {
      const store = new SqliteRelayStore({ dataDir: dir, ttlSeconds: 100 });
      try {
        const { key, root } = layout();
        assert.deepEqual(key, ['cid', 'queue']);
        if (open === 0) firstRoot = root;
        else assert.equal(root, firstRoot, 'the second open leaves the rebuilt table as it is');
        assert.deepEqual(await store.put(Q1, new Uint8Array([1]), 2000, 'cid-aaaaaaaaaaaaaaaa'), { ok: true, id: '7', duplicate: true });
        assert.deepEqual(await store.put(Q2, new Uint8Array([2]), 2000, 'cid-bbbbbbbbbbbbbbbb'), { ok: true, id: '5', duplicate: true });
        const elsewhere = await store.put(Q2, new Uint8Array([3]), 2000, 'cid-aaaaaaaaaaaaaaaa');
        assert.ok(elsewhere.ok && elsewhere.duplicate === (open === 1), 'the same cid in another queue is another message (stored by the first open)');
        assert.deepEqual((await store.list(Q1, undefined, 10, 2000)).map((m) => m.id), ['7']);
      } finally {
        await store.close();
      }
    }
    const db = new Database(join(dir, RELAY_DB_FILE), { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'sent_ids%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      assert.deepEqual(tables, ['sent_ids', 'sent_ids_by_time'], 'the old table is gone, the time index is back');
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: a dedup table of a layout the store does not know stops the open with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-relay-store-'));
  try {
    const db = new Database(join(dir, RELAY_DB_FILE));
    db.exec('CREATE TABLE sent_ids (queue TEXT, cid TEXT, id INTEGER, at INTEGER)');
    db.close();
    const openFiles = (): number => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(dir, RELAY_DB_FILE));
      } catch {
        return false; // the directory's own fd, closed by now
      }
    }).length;
    assert.throws(() => new SqliteRelayStore({ dataDir: dir, ttlSeconds: 100 }), /sent_ids has an unknown layout \(primary key: none\)/);
    assert.equal(openFiles(), 0, 'the failed open closed the database');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jetstream: two nodes: a send stored on one is listed and acked on the other, and its wake-up reaches the other with the body', async () => {
  const a = await JetStreamRelayStore.open({ servers: [nats.nodes[0]!.url], ttlSeconds: 100, stream: 'TWO', subjectPrefix: 'two' });
  const b = await JetStreamRelayStore.open({ servers: [nats.nodes[0]!.url], ttlSeconds: 100, stream: 'TWO', subjectPrefix: 'two' });
  try {
    const woken = new Promise<unknown>((resolve) => b.wakes.listen(Q1, resolve));
    await b.wakes.flush();
    const r = await a.put(Q1, new Uint8Array([7, 7]), 5000);
    assert.ok(r.ok && r.previousId === '0', 'the first message of a queue has no predecessor');
    a.wakes.notify(Q1, { id: r.id, body: new Uint8Array([7, 7]), receivedAt: 5000, previousId: r.previousId! });
    const m = (await woken) as { id: string; body: Uint8Array; receivedAt: number; previousId: string };
    assert.deepEqual([m.id, [...m.body], m.receivedAt, m.previousId], [r.id, [7, 7], 5000, '0']);
    assert.deepEqual((await b.list(Q1, undefined, 10, 5001)).map((x) => x.id), [r.id]);
    const r2 = await b.put(Q1, new Uint8Array([8]), 5001);
    assert.ok(r2.ok && r2.previousId === r.id, 'the second names the first, whichever node stored it');
    assert.equal(await b.ack(Q1, [r.id, r2.id]), 2);
    assert.deepEqual(await a.list(Q1, undefined, 10, 5002), []);
  } finally {
    await a.close();
    await b.close();
  }
});
