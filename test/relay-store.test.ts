import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SqliteRelayStore } from '../src/relay/sqlite-relay-store.js';

const Q1 = 'AAAAAAAAAAAAAAAAAAAAAA';
const Q2 = 'BBBBBBBBBBBBBBBBBBBBBA';

/** put() that must succeed (the queue is open); returns the id. */
async function put(store: SqliteRelayStore, queue: string, body: Uint8Array, now: number): Promise<string> {
  const r = await store.put(queue, body, now);
  assert.ok(r.ok, 'queue unexpectedly closed');
  return r.id;
}

function tempStore(ttlSeconds = 100): { store: SqliteRelayStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'latch-relay-store-'));
  return { store: new SqliteRelayStore({ dataDir: dir, ttlSeconds }), dir };
}

test('put/list/ack keep queues apart, ids increase, ack is idempotent', async () => {
  const { store, dir } = tempStore();
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
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TTL hides old messages and closed markers; purgeExpired deletes them', async () => {
  const { store, dir } = tempStore(10);
  try {
    await put(store, Q1, new Uint8Array([1]), 0);
    const young = await put(store, Q1, new Uint8Array([2]), 5000);
    await store.close(Q2, 'paired', 0);
    assert.equal(await store.isClosed(Q2, 9999), true);
    assert.equal(await store.isClosed(Q2, 10000), false);
    assert.deepEqual((await store.list(Q1, undefined, 100, 10000)).map((m) => m.id), [young]);
    assert.equal(await store.purgeExpired(10000), 1);
    assert.equal(await store.purgeExpired(10000), 0);
    assert.deepEqual((await store.list(Q1, undefined, 100, 0)).map((m) => m.id), [young], 'the old row is gone, not just hidden');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('messages and ids survive reopening the database', async () => {
  const { store, dir } = tempStore();
  try {
    const a = await put(store, Q1, new Uint8Array([9, 9]), 1);
    await store.close();
    const again = new SqliteRelayStore({ dataDir: dir, ttlSeconds: 100 });
    assert.deepEqual((await again.list(Q1, undefined, 10, 2)).map((m) => m.id), [a]);
    await again.ack(Q1, [a]);
    const b = await put(again, Q1, new Uint8Array([1]), 3);
    assert.ok(BigInt(b) > BigInt(a), 'AUTOINCREMENT never reuses an acked id');
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: arbitrary bodies round-trip through the store in order', async () => {
  const { store, dir } = tempStore();
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
    rmSync(dir, { recursive: true, force: true });
  }
});

test('put refuses a closed queue in the same step as the insert, until the marker expires', async () => {
  const { store, dir } = tempStore(10);
  try {
    await store.close(Q1, 'paired', 1000);
    assert.deepEqual(await store.put(Q1, new Uint8Array([1]), 1001), { ok: false, reason: 'closed' });
    assert.deepEqual(await store.list(Q1, undefined, 100, 1001), [], 'nothing was stored');
    assert.equal((await store.put(Q2, new Uint8Array([1]), 1001)).ok, true, 'other queues are unaffected');
    assert.equal((await store.put(Q1, new Uint8Array([2]), 11000)).ok, true, 'the closed marker expired with the TTL');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a put with a client message id seen before stores nothing and answers the first id, also after its ack and across a reopen', async () => {
  const { store, dir } = tempStore();
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
    const reopened = new SqliteRelayStore({ dataDir: dir, ttlSeconds: 100 });
    try {
      assert.deepEqual(await reopened.put(Q1, new Uint8Array([1]), 3000, 'cid-aaaaaaaaaaaaaaaa'), { ok: true, id: a!.id, duplicate: true });
      // Past the dedup window (10 min) the id is forgotten by the sweep.
      await reopened.purgeExpired(1000 + 10 * 60 * 1000 + 1);
      const late = await reopened.put(Q1, new Uint8Array([1]), 1000 + 10 * 60 * 1000 + 2, 'cid-aaaaaaaaaaaaaaaa');
      assert.ok(late.ok && !late.duplicate && late.id !== a!.id);
    } finally {
      await reopened.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
