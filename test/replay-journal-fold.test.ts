/**
 * When the replay journal is folded into the keystore (PROTOCOL.md §5.5, issue 9): a due fold waits
 * for a quiet moment instead of running between two requests; a journal that reaches its bound
 * folds at once; what was folded is still answered byte for byte. And the keystore lock it takes
 * queues callers of one process in order, without losing an update.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as P from '../src/protocol/index.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { RequestHandler } from '../src/authenticator/request-handler.js';
import { COMPACT_AFTER_RECORDS, COMPACT_AT_MOST_RECORDS, FOLD_WHEN_IDLE_MS } from '../src/authenticator/replay-journal.js';
import { JOURNAL_HEADER_BYTES } from '../src/authenticator/replay-journal-codec.js';
import { withFileLock } from '../src/util/file-lock.js';
import { isLatchError } from '../src/util/latch-error.js';
import { tempDir } from './helpers/latch-process.js';
import { keystoreWithPairing, testPairing } from './helpers/test-pairing.js';

const PASSPHRASE = 'test passphrase';

async function setUp() {
  const s = await P.sodiumReady();
  const { pairing, computer, session } = testPairing(s);
  const path = await keystoreWithPairing(s, pairing, PASSPHRASE);
  const ks = await Keystore.open(s, path, PASSPHRASE);
  const logged: string[] = [];
  const handler = new RequestHandler(s, ks, (l) => void logged.push(l));
  const journal = join(dirname(path), 'replay.journal');
  /** A `me` request boxed as the computer does; each one the handler answers appends two records (claim, answer). */
  const request = (): Uint8Array => {
    const r: P.RequestMessage = { v: 1, type: 'request', request_id: P.newRequestId(s), unix_seconds: P.nowSeconds(), body: { kind: 'me' } };
    return P.boxMessageRandom(s, P.encodeMessage(r), session.publicKey, computer.privateKey);
  };
  const answer = async (env: Uint8Array): Promise<Uint8Array> => {
    const replies: Uint8Array[] = [];
    assert.equal(await handler.handle(pairing, env, async (e) => void replies.push(e)), 'done');
    assert.equal(replies.length, 1);
    return P.openBoxedMessage(s, replies[0]!, session.publicKey, computer.privateKey);
  };
  /** What another process opening the keystore now would find in it (not in the journal). */
  const foldedEntries = async (): Promise<number> => (await Keystore.open(s, path, PASSPHRASE)).state.replay.length;
  return { answer, request, journalBytes: () => statSync(journal).size, foldedEntries, logged };
}

test('a due fold waits until no request has come for a moment, then folds; a folded request is answered byte for byte', async () => {
  const t = await setUp();
  const n = COMPACT_AFTER_RECORDS / 2 + 2; // past the threshold
  const first = t.request();
  const firstAnswer = await t.answer(first);
  for (let i = 1; i < n; i++) await t.answer(t.request());
  // The request that took the journal past the threshold returned without folding it.
  assert.ok(t.journalBytes() > JOURNAL_HEADER_BYTES);
  assert.equal(await t.foldedEntries(), 0);
  // Once quiet, it is folded: the keystore holds every entry, the journal starts afresh.
  const until = Date.now() + FOLD_WHEN_IDLE_MS + 10_000;
  while (t.journalBytes() > JOURNAL_HEADER_BYTES && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(t.journalBytes(), JOURNAL_HEADER_BYTES, 'folded once idle');
  assert.equal(await t.foldedEntries(), n);
  assert.deepEqual(await t.answer(first), firstAnswer, 'a redelivery is answered from the folded cache');
  assert.deepEqual(t.logged.filter((l) => /could not fold/.test(l)), []);
});

test('a journal that reaches its bound folds at once, however busy', async () => {
  const t = await setUp();
  const n = COMPACT_AT_MOST_RECORDS / 2;
  let before = 0; // no journal before the first request
  for (let i = 0; i < n - 1; i++) {
    await t.answer(t.request());
    // Past COMPACT_AFTER_RECORDS too, the journal only grows while requests keep coming.
    assert.ok(t.journalBytes() > before, `not folded between requests (request ${i + 1})`);
    before = t.journalBytes();
  }
  await t.answer(t.request()); // record COMPACT_AT_MOST_RECORDS
  assert.equal(t.journalBytes(), JOURNAL_HEADER_BYTES, 'folded by the request that reached the bound');
  assert.equal(await t.foldedEntries(), n);
});

test('callers of one process take a lock in the order they asked, one at a time; a caller that takes it again inside gets "locked"', async () => {
  const lock = join(tempDir('lock'), 'k.lock');
  const order: number[] = [];
  let inside = 0;
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      withFileLock(lock, async () => {
        inside++;
        assert.equal(inside, 1, 'one holder at a time');
        await new Promise((r) => setImmediate(r));
        order.push(i);
        inside--;
      }),
    ),
  );
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
  await assert.rejects(
    withFileLock(lock, () => withFileLock(lock, () => 'never', { timeoutMs: 100 })),
    (e: unknown) => isLatchError(e) && e.code === 'locked',
  );
  // ...and the lock is free again afterwards.
  assert.equal(await withFileLock(lock, () => 'free', { timeoutMs: 1000 }), 'free');
});
