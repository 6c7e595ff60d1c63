/**
 * A revoked key is told to every device, the revoked one too (docs/CUSTODY.md "Revoking a key"):
 * a revocation takes effect at once (device + server), so a thief holding one phone could take
 * the recovery key or the owner's other device away with nobody the wiser. Real `latch server`,
 * two real `latch device run` listening on their notice inboxes, the real CLI revoking.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer, tempDir } from './helpers/latch-process.js';
import { cliLogin, json, RECOVERY_PASSPHRASE } from './helpers/custody-env.js';

const env = { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE };
const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('revoking the recovery key and then a device: both devices are told, the revoked one too, with the key and who revoked it', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const phone = await cliLogin(server, 'phone', 'rae@example.com');
  const cloud = join(tempDir('cloud'), 'Dropbox');
  mkdirSync(cloud);
  const { address } = json<{ address: string }>(await latchRun(['account', 'create', '--recovery-dir', cloud, '--json'], { home: phone, env }));
  const phoneRun = latch(['device', 'run', '--auto-approve'], { home: phone });
  await phoneRun.waitFor(/custody: listening/);
  // A second device joins (the phone's device run approves it) and listens too.
  const tablet = await cliLogin(server, 'tablet', 'rae@example.com');
  assert.equal(json<{ key_index: number }>(await latchRun(['account', 'join', address, '--json'], { home: tablet })).key_index, 3);
  const tabletRun = latch(['device', 'run'], { home: tablet });
  await tabletRun.waitFor(/custody: listening/);
  const keys = json<{ keys: { index: string; fingerprint: string }[] }>(await latchRun(['account', 'show', '--json'], { home: phone })).keys;
  const fp = (i: number): string => keys.find((k) => k.index === String(i))!.fingerprint;

  // The recovery key: at once, and both devices say so.
  assert.equal((await latchRun(['account', 'revoke', '--key', '2', '--json'], { home: phone })).code, 0);
  const recoveryGone = new RegExp(`RECOVERY KEY REVOKED on account ${address} \\(key 2 \\(${quote(fp(2))}\\)\\) by "phone" at [0-9TZ:.-]+: the account has no recovery key now`);
  await phoneRun.waitFor(recoveryGone);
  await tabletRun.waitFor(recoveryGone);

  // The tablet, by the phone: the tablet itself learns it was revoked; the phone sees it by name.
  assert.equal((await latchRun(['account', 'revoke', '--key', '3', '--json'], { home: phone })).code, 0);
  await tabletRun.waitFor(new RegExp(`THIS DEVICE WAS REVOKED from account ${address} \\(key 3 \\(${quote(fp(3))}\\)\\) by "phone" at [0-9TZ:.-]+: it can no longer sign for it\\. If this was not you`));
  await phoneRun.waitFor(new RegExp(`DEVICE "tablet" REVOKED from account ${address} \\(key 3 \\(${quote(fp(3))}\\)\\) by "phone"`));
  const after3 = json<{ keys: { index: string; revoked: boolean }[] }>(await latchRun(['account', 'show', '--json'], { home: phone })).keys;
  assert.deepEqual(after3.filter((k) => k.revoked).map((k) => k.index).sort(), ['2', '3']);
  phoneRun.kill();
  tabletRun.kill();
});
