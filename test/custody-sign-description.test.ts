/**
 * What a custody co-sign request shows (custody-notice-core.ts describeSignRequest and
 * handleNotice): read from the transaction, never from the server's words, and everything an
 * add-key grants (key, algorithms, weight) - a key of weight 1000 alone controls the account.
 */
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeSignRequest, handleNotice, type SignNotice } from '../src/authenticator/custody-notice-core.js';
import { newRecoveryKey } from '../src/authenticator/custody-recovery-kit-format.js';
import { templateTransaction, type TemplateCall } from '../src/ledger/flow/cadence-templates.js';
import { toRestTransaction } from '../src/ledger/flow/flow-rest-shape.js';
import { HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import type { CustodyClient } from '../src/sdk/custody-client.js';

const MINE = '0xf8d6e0586b0a20c7';
const OTHER = '0x01cf0e2f2f715450';

function notice(call: TemplateCall, opts: { account?: string } = {}): SignNotice {
  const tx = templateTransaction({
    network: 'emulator',
    call,
    referenceBlockId: 'ab'.repeat(32),
    proposalKey: { address: MINE, keyIndex: 0, sequenceNumber: 3 },
    payer: MINE,
    authorizer: MINE,
  });
  return {
    type: 'custody-sign',
    request_id: 'r1',
    account: opts.account ?? MINE,
    transaction: toRestTransaction(tx),
    device_name: 'laptop',
    expires_at: Math.floor(Date.now() / 1000) + 60,
    server_url: 'http://127.0.0.1:1',
  };
}

const addKey = (weight: number, hashAlgo: 1 | 3 = HASH_ALGO_SHA2_256) => {
  const { publicKey } = newRecoveryKey();
  return { publicKey, call: { kind: 'add-key', key: { publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo, weight } } as TemplateCall };
};

test('add-key: the text names the key (fingerprint and both ends), its algorithms and its weight', () => {
  const { publicKey, call } = addKey(500);
  const r = describeSignRequest(notice(call), MINE);
  assert.ok('what' in r);
  // The fingerprint as `ssh-keygen -l` prints one: SHA256 of the 64-byte key, unpadded base64.
  const fingerprint = 'SHA256:' + createHash('sha256').update(Buffer.from(publicKey, 'hex')).digest('base64').replace(/=+$/, '');
  assert.equal(r.what, `add key ${fingerprint} (${publicKey.slice(0, 16)}...${publicKey.slice(-16)}; ECDSA P-256, SHA2-256), weight 500`);
  assert.equal(r.account, MINE);
  assert.doesNotMatch(r.what, /WARNING/);
});

test('add-key: a weight other than 500 is flagged; 1000 says the key alone controls the account', () => {
  const full = describeSignRequest(notice(addKey(1000).call), MINE);
  assert.ok('what' in full);
  assert.match(full.what, /weight 1000 - WARNING: not the usual 500; a key of weight 1000 alone controls the whole account/);
  const odd = describeSignRequest(notice(addKey(300, HASH_ALGO_SHA3_256).call), MINE);
  assert.ok('what' in odd);
  assert.match(odd.what, /; ECDSA P-256, SHA3-256\), weight 300 - WARNING: not the usual 500$/);
  assert.doesNotMatch(odd.what, /alone controls/);
});

test('handleNotice: the question and the log name the account of the transaction, not the notice\'s account field', async () => {
  const asked: { account: string; what: string }[] = [];
  const logs: string[] = [];
  const denied: string[] = [];
  const client = { denySignRequest: async (id: string) => void denied.push(id) } as unknown as CustodyClient;
  // A server that lies about the account in the notice: the transaction is for MINE.
  const n = notice(addKey(1000).call, { account: OTHER });
  const out = await handleNotice(n, {
    client,
    account: MINE,
    keyIndex: 0,
    signer: { publicKey: '', sign: async () => new Uint8Array(64) },
    log: (l) => logs.push(l),
    askJoin: async () => 'deny',
    askSign: async (s, what) => {
      asked.push({ account: s.account, what });
      return 'deny';
    },
  });
  assert.equal(out.outcome, 'denied');
  assert.deepEqual(denied, ['r1']);
  assert.equal(asked.length, 1);
  assert.equal(asked[0]!.account, MINE);
  assert.match(asked[0]!.what, /weight 1000 - WARNING/);
  assert.ok(logs.some((l) => l.includes(`for account ${MINE}:`)), logs.join('\n'));
  assert.ok(!logs.some((l) => l.includes(OTHER)), logs.join('\n'));
});
