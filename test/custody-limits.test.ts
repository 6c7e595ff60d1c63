/**
 * Smaller limits (issue 15 §6) against a real `latch server` and the CLI: an oversized body gets
 * the documented 413, an email at RFC 5321's length limit logs in without a 500 and a longer one
 * is a clear 400, and a recovery kit whose Argon2id memory libsodium.js cannot allocate is refused
 * with its own code instead of "wrong recovery passphrase".
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latchRun, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { cliLogin, custodyCall, RECOVERY_PASSPHRASE } from './helpers/custody-env.js';
import { newRecoveryKey, writeRecoveryKit } from '../src/authenticator/custody-recovery-kit.js';
import { sodiumReady } from '../src/protocol/sodium.js';

let server: LatchServer;
before(async () => {
  server = await startLatchServer();
});
after(() => server.stop());

test('a body over 64 KiB gets 413 body_too_large, not a connection reset', async () => {
  const res = await fetch(`${server.url}/custody/v1/login/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'a'.repeat(100 * 1024) }) });
  assert.equal(res.status, 413);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'body_too_large');
  // And the server keeps serving.
  assert.equal((await custodyCall(server, 'POST', '/login/start', { body: { email: 'ok@example.com' } })).status, 200);
});

test('an email at the RFC 5321 limit logs in (no ENAMETOOLONG 500); a longer one is a clear 400', async () => {
  const domain = `${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(57)}.com`;
  const longest = `${'l'.repeat(64)}@${domain}`;
  assert.equal(longest.length, 254);
  const ok = await custodyCall(server, 'POST', '/login/start', { body: { email: longest } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  // The code was written to the outbox under a hashed name.
  assert.ok(readdirSync(join(server.dataDir, 'outbox')).some((f) => /^[0-9a-f]{64}\.txt$/.test(f)));
  const tooLong = await custodyCall(server, 'POST', '/login/start', { body: { email: `x${longest}` } });
  assert.equal(tooLong.status, 400);
  assert.equal(tooLong.body.error?.code, 'bad_email');
});

test('a recovery kit asking for more memory than libsodium.js can derive gets a clear code', async () => {
  const sodium = await sodiumReady();
  const home = await cliLogin(server, 'phone', 'kit@example.com');
  const dir = tempDir('kit');
  const path = writeRecoveryKit(sodium, dir, '0xf8d6e0586b0a20c7', newRecoveryKey().secret, RECOVERY_PASSPHRASE);
  const f = JSON.parse(readFileSync(path, 'utf8')) as { kdf: Record<string, unknown> };
  // 2 GiB: libsodium's own ceiling for Argon2id, which libsodium.js cannot allocate.
  writeFileSync(path, JSON.stringify({ ...f, kdf: { ...f.kdf, memlimit: 2 ** 31 } }));
  const r = await latchRun(['account', 'recover', '--recovery-file', path, '--json'], { home, env: { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[recovery_kit_kdf_too_costly\]/);
  assert.doesNotMatch(r.stderr, /wrong recovery passphrase/);
});
