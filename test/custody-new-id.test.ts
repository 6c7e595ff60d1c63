/**
 * Ids of joins, recoveries and sign requests go on command lines (`latch account recover
 * --cancel ID`, printed in every device's notice); one base64url id in 64 began with "-", which
 * a command line reads as an option (CI failed so once). newId() draws such an id again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../src/custody/custody-core.js';

test('custody ids are 22 base64url characters (16 bytes) and never begin with "-"', () => {
  const seen = new Set<string>();
  // 4096 draws: the old rule let about 64 of them begin with "-"; all of them passing by chance is
  // (63/64)^4096 ≈ 1e-28.
  for (let i = 0; i < 4096; i++) {
    const id = newId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    assert.equal(Buffer.from(id, 'base64url').length, 16);
    seen.add(id);
  }
  assert.equal(seen.size, 4096);
  // "_" is still a first character: only "-" is redrawn (2^12 draws see it ~64 times).
  assert.ok([...seen].some((id) => id.startsWith('_')));
});
