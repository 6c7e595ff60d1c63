/**
 * The keystore's passphrase KDF cost: INTERACTIVE unless `latch device init --kdf-cost` says
 * otherwise, recorded in the file, and honoured when the keystore is opened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latchRun, tempDir } from './helpers/latch-process.js';
import { sodiumReady } from '../src/protocol/sodium.js';

function kdfOf(home: string): { alg: string; opslimit: number; memlimit: number } {
  return JSON.parse(readFileSync(join(home, 'authenticator', 'keystore.json'), 'utf8')).kdf;
}

test('device init: Argon2id at libsodium INTERACTIVE by default; --kdf-cost picks another level, warns at min, and the keystore opens with it', async () => {
  const sodium = await sodiumReady();
  const plain = tempDir('kdf-default');
  const a = await latchRun(['device', 'init', '--name', 'default'], { home: plain });
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(kdfOf(plain), { ...kdfOf(plain), alg: 'argon2id13', opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE });
  assert.doesNotMatch(a.stderr, /Warning/);

  const cheap = tempDir('kdf-min');
  const b = await latchRun(['device', 'init', '--name', 'cheap', '--kdf-cost', 'min'], { home: cheap });
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(kdfOf(cheap), { ...kdfOf(cheap), opslimit: sodium.crypto_pwhash_OPSLIMIT_MIN, memlimit: sodium.crypto_pwhash_MEMLIMIT_MIN });
  assert.match(b.stderr, /Warning: --kdf-cost min makes a stolen keystore file cheap to guess/);
  // Opened with the cost in the file; a wrong passphrase is still refused.
  assert.equal((await latchRun(['device', 'computer', 'list', '--json'], { home: cheap })).code, 0);
  const wrong = await latchRun(['device', 'computer', 'list', '--json'], { home: cheap, env: { LATCH_PASSPHRASE: 'not it' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[bad_passphrase\]/);

  const bad = await latchRun(['device', 'init', '--name', 'x', '--kdf-cost', 'cheap'], { home: tempDir('kdf-bad') });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--kdf-cost must be one of min, interactive, moderate, sensitive/);
});
