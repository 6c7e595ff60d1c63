/** The shared lock file (keystore, computer state): exclusion across processes, stale takeover. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withFileLock } from '../src/util/file-lock.js';
import { updateComputerState, samePairing, type ComputerPairing } from '../src/computer/computer-state.js';
import { tempDir } from './helpers/latch-process.js';

const LOCK_MODULE = fileURLToPath(new URL('../src/util/file-lock.js', import.meta.url));

test('four processes incrementing one counter under the lock lose no update', async () => {
  const dir = tempDir('lock');
  const counter = join(dir, 'n');
  writeFileSync(counter, '0');
  const script = `
    const { withFileLock } = await import(${JSON.stringify(LOCK_MODULE)});
    const fs = await import('node:fs');
    for (let i = 0; i < 25; i++) {
      await withFileLock(${JSON.stringify(join(dir, 'n.lock'))}, async () => {
        const n = Number(fs.readFileSync(${JSON.stringify(counter)}, 'utf8'));
        await new Promise((r) => setImmediate(r));
        fs.writeFileSync(${JSON.stringify(counter)}, String(n + 1));
      });
    }`;
  const runs = Array.from({ length: 4 }, () => new Promise<number | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' }).once('exit', resolve)));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0]);
  assert.equal(readFileSync(counter, 'utf8'), '100');
});

test('a lock left by a dead process is taken over; a live one is waited for, then reported', async () => {
  const dir = tempDir('lock');
  const lock = join(dir, 'x.lock');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  writeFileSync(lock, `${dead} deadbeef`);
  assert.equal(await withFileLock(lock, () => 'got it'), 'got it');
  assert.equal(existsSync(lock), false, 'released');
  assert.deepEqual(readdirSync(dir), [], 'no stale leftovers');

  writeFileSync(lock, `${process.pid} someone-else`); // alive: this very process, another holder
  await assert.rejects(withFileLock(lock, () => 'never', { timeoutMs: 200, what: 'the thing' }), { code: 'locked', message: /the thing is locked by another process/ });
  assert.equal(readFileSync(lock, 'utf8'), `${process.pid} someone-else`, 'a live lock is left alone');
});

test('the lock directory is made on first use (0700); a holder whose lock was taken over and replaced leaves the new one', async () => {
  const dir = join(tempDir('lock'), 'not', 'yet');
  const lock = join(dir, 'y.lock');
  assert.equal(await withFileLock(lock, () => readFileSync(lock, 'utf8').split(' ')[0]), String(process.pid), 'held, with our pid');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(dir), [], 'released');

  // While we hold it, another process judges it stale, moves it aside and puts its own in place
  // (takeOver): our release must not delete that one.
  await withFileLock(lock, () => {
    renameSync(lock, `${lock}.moved`);
    writeFileSync(lock, '1 the-new-holder');
  });
  assert.equal(readFileSync(lock, 'utf8'), '1 the-new-holder', 'the replacement is left alone');

  // A holder whose work throws releases the lock and passes the error on.
  const other = join(dir, 'z.lock');
  await assert.rejects(withFileLock(other, () => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(existsSync(other), false, 'released after a throw');
});

test('a stale status refresh does not write back over a newer pairing', async () => {
  const file = join(tempDir('computer'), 'computer.json');
  const pairing = (key: string, name: string): ComputerPairing => ({
    deviceName: name, deviceId: 'AAAAAAAAAAAAAAAAAAAAAA', sshKeys: [], relayUrl: 'http://127.0.0.1:9',
    computerPublicKey: key, computerSecretKey: 's', queuePublicKey: 'q', queueSecretKey: 'q', authenticatorPublicKey: 'a', authenticatorQueue: 'AAAAAAAAAAAAAAAAAAAAAA', pairedAt: 1,
  });
  const old = pairing('old-key', 'old phone');
  await updateComputerState(file, (s) => void (s.pairing = old));
  await updateComputerState(file, (s) => void (s.pairing = pairing('new-key', 'new phone'))); // `latch pair` meanwhile
  await updateComputerState(file, (s) => {
    if (samePairing(s.pairing, old)) s.pairing.lastSeen = 99; // what status does with what it read before
  });
  const now = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(now.pairing.deviceName, 'new phone');
  assert.equal(now.pairing.lastSeen, undefined);
});
