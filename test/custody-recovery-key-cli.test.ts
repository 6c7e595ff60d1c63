/**
 * Issue 15 §1 through the real CLI and a real `latch server`: `account show` prints every key's
 * fingerprint; replacing the recovery key (device + server) is told to the devices and waits the
 * recovery delay; the kit is kept and reused, and a device can cancel the change.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer, tempDir } from './helpers/latch-process.js';
import { cliLogin, json, RECOVERY_PASSPHRASE } from './helpers/custody-env.js';

const env = { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE };
/** As `ssh-keygen -l` prints: SHA256 of the 64-byte key, unpadded base64 (computed here, independently). */
const fingerprint = (hex: string) => 'SHA256:' + createHash('sha256').update(Buffer.from(hex, 'hex')).digest('base64').replace(/=+$/, '');

test('account show prints fingerprints; a recovery-key replacement is told to the devices, waits the delay, keeps its kit and can be cancelled', async () => {
  const server = await startLatchServer({ args: ['--recovery-delay', '3600'] });
  after(() => server.stop());
  const phone = await cliLogin(server, 'phone', 'ada@example.com');
  const cloud = join(tempDir('cloud'), 'Dropbox');
  mkdirSync(cloud);
  const { address } = json<{ address: string }>(await latchRun(['account', 'create', '--recovery-dir', cloud, '--json'], { home: phone, env }));

  const shown = json<{ keys: { index: string; public_key: string; fingerprint: string }[] }>(await latchRun(['account', 'show', '--json'], { home: phone }));
  assert.equal(shown.keys.length, 3);
  for (const k of shown.keys) assert.equal(k.fingerprint, fingerprint(k.public_key));
  const text = await latchRun(['account', 'show'], { home: phone });
  for (const k of shown.keys) assert.ok(text.stdout.includes(fingerprint(k.public_key)), text.stdout);
  assert.doesNotMatch(text.stdout, /same key as/);

  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  await run.waitFor(/custody: listening/);
  json(await latchRun(['account', 'revoke', '--key', '2', '--json'], { home: phone }));
  const oldKit = JSON.parse(readFileSync(join(cloud, `latch-recovery-${address}.json`), 'utf8')) as { public_key: string };

  const first = await latchRun(['account', 'create', '--add-recovery', '--recovery-dir', cloud], { home: phone, env });
  assert.notEqual(first.code, 0);
  assert.match(first.stderr, /waits until/);
  assert.match(first.stderr, /kit is kept at/);
  const changeId = /--cancel ([A-Za-z0-9_-]{22})/.exec(first.stderr)![1]!;
  const newKit = JSON.parse(readFileSync(join(cloud, `latch-recovery-${address}.json`), 'utf8')) as { public_key: string };
  assert.notEqual(newKit.public_key, oldKit.public_key);
  assert.ok(readdirSync(cloud).some((f) => f.startsWith(`latch-recovery-${address}.json.replaced-`)));
  // Every device is told, with the new key's fingerprint.
  await run.waitFor(new RegExp(`NEW RECOVERY KEY ${fingerprint(newKit.public_key).replace(/[+/]/g, '\\$&')} for account ${address}`));
  assert.equal(json<{ keys: unknown[] }>(await latchRun(['account', 'show', '--json'], { home: phone })).keys.length, 3);

  // Asked again: the same kit, the same key, still waiting.
  const again = await latchRun(['account', 'create', '--add-recovery', '--recovery-dir', cloud], { home: phone, env });
  assert.match(again.stderr, /waits until/);
  assert.equal((JSON.parse(readFileSync(join(cloud, `latch-recovery-${address}.json`), 'utf8')) as { public_key: string }).public_key, newKit.public_key);

  // A device cancels it.
  assert.equal((await latchRun(['account', 'recover', '--cancel', changeId], { home: phone })).code, 0);
  run.kill();
});
