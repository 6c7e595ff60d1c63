/**
 * Custody flows end to end over the real CLI: a real `latch server` child process (relay +
 * custody + embedded ledger), several authenticator homes, the dev issuer's outbox.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer, tempDir } from './helpers/latch-process.js';
import { cliLogin, json, RECOVERY_PASSPHRASE } from './helpers/custody-env.js';
import { custodyStoreOf, dropAuditUpdateTrigger } from './helpers/custody-pg.js';

const env = { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE };

test('login -> create -> show -> transfer -> join (2FA) -> revoke -> recover -> self-custody -> audit verify', async () => {
  const server = await startLatchServer({ args: ['--recovery-delay', '0'] });
  after(() => server.stop());
  const phone = await cliLogin(server, 'phone', 'ada@example.com');
  const cloud = join(tempDir('cloud'), 'Dropbox');
  mkdirSync(cloud);
  const created = json<{ address: string; recovery_kit: string }>(await latchRun(['account', 'create', '--recovery-dir', cloud, '--json'], { home: phone, env }));
  assert.match(created.address, /^0x[0-9a-f]{16}$/);
  assert.deepEqual(readdirSync(cloud), [`latch-recovery-${created.address}.json`]);

  const shown = json<{ address: string; balance: string; keys: Record<string, unknown>[] }>(await latchRun(['account', 'show', '--json'], { home: phone }));
  assert.equal(shown.address, created.address);
  assert.equal(shown.balance, '1000.00000000');
  assert.deepEqual(shown.keys.map((k) => k.role), ['device', 'server', 'recovery']);
  for (const k of shown.keys) {
    for (const f of ['index', 'public_key', 'signing_algorithm', 'hashing_algorithm', 'sequence_number', 'weight', 'revoked']) assert.ok(f in k, f);
    assert.equal(k.weight, '500');
    assert.equal(k.signing_algorithm, 'ECDSA_P256');
  }

  // A second user to send to (created without a recovery key: warned and reminded).
  const bob = await cliLogin(server, 'bob', 'bob@example.com');
  const bobCreate = await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: bob });
  assert.match(bobCreate.stderr, /No recovery key/);
  const bobAddr = json<{ address: string }>(bobCreate).address;

  const sent = json<{ id: string; transaction: { envelope_signatures: { key_index: string }[]; script: string } }>(
    await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '10', '--json'], { home: phone }),
  );
  assert.match(sent.id, /^[0-9a-f]{64}$/);
  assert.deepEqual(sent.transaction.envelope_signatures.map((s) => s.key_index).sort(), ['0', '1']);
  assert.equal(json<{ balance: string }>(await latchRun(['account', 'show', bobAddr, '--json'], { home: bob })).balance, '1010.00000000');

  // 2FA join: the phone approves from `device run --auto-approve`.
  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  await run.waitFor(/custody: listening/);
  const tablet = await cliLogin(server, 'tablet', 'ada@example.com');
  const joined = json<{ key_index: number }>(await latchRun(['account', 'join', created.address, '--json'], { home: tablet }));
  assert.equal(joined.key_index, 3);
  await run.waitFor(/join request for account .*device "tablet" from .*s left/);
  const tabletSend = await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '1', '--json'], { home: tablet });
  assert.equal(tabletSend.code, 0, tabletSend.stderr);

  // Revoke the tablet: it can no longer sign.
  json(await latchRun(['account', 'revoke', '--key', '3', '--json'], { home: phone }));
  const revoked = await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '1'], { home: tablet });
  assert.notEqual(revoked.code, 0);

  // Recover on a new authenticator with the kit (delay 0); existing devices are told.
  const newPhone = await cliLogin(server, 'new phone', 'ada@example.com');
  const kit = join(cloud, `latch-recovery-${created.address}.json`);
  const rec = json<{ status: string; key_index: number }>(await latchRun(['account', 'recover', '--recovery-file', kit, '--json'], { home: newPhone, env }));
  assert.deepEqual([rec.status, rec.key_index], ['completed', 4]);
  await run.waitFor(/RECOVERY of account/);
  run.kill();
  assert.equal((await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '2'], { home: newPhone })).code, 0);

  // Self-custody: the server can no longer co-sign; device + recovery still can, and so can two
  // devices (the new phone approves through the relay).
  json(await latchRun(['account', 'self-custody', '--json'], { home: phone }));
  assert.equal((await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '3', '--recovery-file', kit], { home: phone, env })).code, 0);
  const newRun = latch(['device', 'run', '--auto-approve'], { home: newPhone });
  await newRun.waitFor(/custody: listening/);
  const twoDevices = await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '4', '--json'], { home: phone });
  assert.equal(twoDevices.code, 0, twoDevices.stderr);
  assert.deepEqual(json<{ transaction: { envelope_signatures: { key_index: string }[] } }>(twoDevices).transaction.envelope_signatures.map((x) => x.key_index).sort(), ['0', '4']);
  await newRun.waitFor(/signature request from "phone" .*transfer 4\.00000000 FLOW/);
  newRun.kill();
  const final = json<{ balance: string; keys: { role: string; revoked: boolean }[] }>(await latchRun(['account', 'show', '--json'], { home: phone }));
  assert.equal(final.balance, '980.00000000');
  assert.deepEqual(final.keys.map((k) => k.revoked), [false, true, false, true, false]);

  // Audit chain verifies; editing a row breaks it.
  const ok = await latchRun(['server', 'audit', 'verify', '--data', server.dataDir, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(JSON.parse(ok.stdout).entries >= 10);
  await server.stop();
  const db = await custodyStoreOf(server.dataDir);
  await assert.rejects(db.run("UPDATE audit SET decision = 'signed' WHERE seq = 3"), /append-only/);
  await db.exec(dropAuditUpdateTrigger(db));
  await db.run("UPDATE audit SET detail = '{\"amount\":\"0.1\"}' WHERE seq = 5");
  await db.close();
  const bad = await latchRun(['server', 'audit', 'verify', '--data', server.dataDir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /BROKEN at entry 5/);
});

test('a server kill -9 in the middle of a 2FA join loses nothing', async () => {
  let server = await startLatchServer({ args: ['--recovery-delay', '0'] });
  const phone = await cliLogin(server, 'phone', 'kay@example.com');
  const { address } = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: phone }));
  const laptop = await cliLogin(server, 'laptop', 'kay@example.com');
  const join = latch(['account', 'join', address, '--json'], { home: laptop });
  await join.waitFor(/Join request sent/);
  await server.kill9();
  server = await startLatchServer({ dataDir: server.dataDir, port: server.port, args: ['--recovery-delay', '0'] });
  after(() => server.stop());
  // The phone comes online only now: the request waited in the relay, the join in SQLite.
  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  const { code } = await join.exited;
  run.kill();
  assert.equal(code, 0, join.stderr());
  assert.equal(JSON.parse(join.stdout()).key_index, 2);
  const keys = json<{ keys: { role: string; device_name?: string }[] }>(await latchRun(['account', 'show', '--json'], { home: laptop })).keys;
  assert.deepEqual(keys.map((k) => k.device_name ?? k.role), ['phone', 'server', 'laptop']);
});

test('bad CLI input gets clear usage errors', async () => {
  const home = tempDir('nohome');
  for (const args of [
    ['account', 'transfer', '--to', 'nothex', '--amount', '1'],
    ['account', 'transfer', '--to', '0x0000000000000001', '--amount', '-5'],
    ['account', 'revoke', '--key', 'x'],
    ['account', 'create'],
    ['account', 'join'],
    ['account', 'frobnicate'],
    ['login'],
    ['login', '--email', 'a@b.cd', '--code', '12'],
    ['server', '--recovery-delay', 'soon'],
  ]) {
    const r = await latchRun(args, { home });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage/);
  }
  const r = await latchRun(['account', 'show'], { home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /latch device init/);
});
