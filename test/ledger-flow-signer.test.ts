import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify, createPrivateKey, sign as nodeSign } from 'node:crypto';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { signFlowMessage, verifyFlowSignature, hashFlowMessage } from '../src/ledger/flow/flow-signer.js';
import { bytesToHex, hexToBytes } from '../src/ledger/flow/flow-hex.js';
import { testKey } from './helpers/flow-keys.js';
import type { FlowHashAlgo, FlowSignAlgo } from '../src/ledger/flow/flow-account-key.js';
import { isLatchError } from '../src/util/latch-error.js';

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
function nodeKeys(pubHex: string, priv: Uint8Array, signAlgo: FlowSignAlgo) {
  const crv = signAlgo === 2 ? 'P-256' : 'secp256k1';
  const pub = hexToBytes(pubHex);
  const jwk = { kty: 'EC', crv, x: b64u(pub.subarray(0, 32)), y: b64u(pub.subarray(32)) };
  return { pub: createPublicKey({ key: jwk, format: 'jwk' }), priv: createPrivateKey({ key: { ...jwk, d: b64u(priv) }, format: 'jwk' }) };
}
const digestName = (h: FlowHashAlgo) => (h === 1 ? 'sha256' : 'sha3-256');

const combos: [FlowSignAlgo, FlowHashAlgo][] = [[2, 1], [2, 3], [3, 1], [3, 3]];
for (const [s, h] of combos) {
  test(`sign (curve ${s}, hash ${h}) -> raw r||s that node:crypto verifies, and vice versa`, () => {
    const k = testKey(s, h, 1000);
    const keys = nodeKeys(k.account.publicKey, k.privateKey, s);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (msg) => {
        const sig = signFlowMessage(msg, k.privateKey, s, h);
        assert.equal(sig.length, 64);
        assert.ok(nodeVerify(digestName(h), msg, { key: keys.pub, dsaEncoding: 'ieee-p1363' }, sig));
        // Deterministic (RFC 6979).
        assert.deepEqual(signFlowMessage(msg, k.privateKey, s, h), sig);
        // node:crypto's (randomised, maybe high-S) signature verifies with ours.
        const theirs = nodeSign(digestName(h), msg, { key: keys.priv, dsaEncoding: 'ieee-p1363' });
        assert.ok(verifyFlowSignature(msg, theirs, k.account.publicKey, s, h));
        // Wrong hash algorithm or flipped bit: refused.
        assert.equal(verifyFlowSignature(msg, sig, k.account.publicKey, s, h === 1 ? 3 : 1), false);
        const bad = Uint8Array.from(sig);
        bad[5]! ^= 1;
        assert.equal(verifyFlowSignature(msg, bad, k.account.publicKey, s, h), false);
      }),
      { numRuns: 25 },
    );
  });
}

test('P-256/SHA2-256 signature equals noble ECDSA over sha256 digest (independent path)', () => {
  const k = testKey(2, 1, 1000);
  const msg = new TextEncoder().encode('hello flow');
  const sig = signFlowMessage(msg, k.privateKey, 2, 1);
  assert.ok(p256.verify(sig, msg, hexToBytes('04' + k.account.publicKey), { prehash: true }));
  assert.equal(bytesToHex(hashFlowMessage(msg, 1)), bytesToHex(sha256(msg)));
});

test('verify refuses malformed signatures and keys without throwing', () => {
  const k = testKey(2, 1, 1000);
  const msg = new Uint8Array([1, 2, 3]);
  const sig = signFlowMessage(msg, k.privateKey, 2, 1);
  assert.equal(verifyFlowSignature(msg, sig.subarray(0, 63), k.account.publicKey, 2, 1), false);
  assert.equal(verifyFlowSignature(msg, new Uint8Array(64), k.account.publicKey, 2, 1), false);
  assert.equal(verifyFlowSignature(msg, sig, 'zz', 2, 1), false);
  assert.equal(verifyFlowSignature(msg, sig, '00'.repeat(64), 2, 1), false);
  // Same X‖Y on the other curve is not a valid key there.
  assert.equal(verifyFlowSignature(msg, sig, k.account.publicKey, 3, 1), false);
});

test('an invalid private key is refused without echoing it', () => {
  const zero = new Uint8Array(32);
  const big = new Uint8Array(32).fill(0xff);
  for (const k of [zero, big, new Uint8Array(31).fill(7)]) {
    assert.throws(() => signFlowMessage(new Uint8Array([1]), k, 2, 1), (e) => isLatchError(e, 'bad_private_key') && !e.message.includes('ff') && !e.message.includes('07'));
  }
});
