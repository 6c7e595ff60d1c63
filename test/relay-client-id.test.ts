/**
 * Client message ids (PROTOCOL.md §3.5): valid cids for any relay, never repeated in a process,
 * and led by their time so that a relay's dedup index (keyed by cid, §3.6) grows at one end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { nextClientId } from '../src/transport/relay-socket.js';

const CID = /^[A-Za-z0-9_-]{16,64}$/;

test('client message ids are valid cids, unique, begin with the time in ms as 12 hex digits, and sort by it', async () => {
  const before = Date.now();
  const ids = Array.from({ length: 1000 }, () => nextClientId());
  const after = Date.now();
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    assert.match(id, CID);
    assert.match(id.slice(0, 12), /^[0-9a-f]{12}$/);
    const t = parseInt(id.slice(0, 12), 16);
    assert.ok(t >= before && t <= after, `time ${t} outside [${before}, ${after}]`);
  }
  await sleep(5);
  const later = nextClientId();
  // Any id of a later millisecond sorts after every earlier one, whatever follows the time.
  assert.ok(ids.every((id) => id < later));
});
