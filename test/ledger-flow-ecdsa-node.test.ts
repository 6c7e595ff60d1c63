/** node:crypto ECDSA (server side) and noble (authenticator, browser) agree on Flow signatures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeEcdsa } from '../src/ledger/flow/flow-ecdsa-node.js';
import { nobleEcdsa, generateFlowPrivateKey, flowPublicKeyFromPrivate } from '../src/ledger/flow/flow-signer.js';
import { HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256, SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1 } from '../src/ledger/flow/flow-account-key.js';

const algos = fc.constantFrom(SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1);
const hashes = fc.constantFrom(HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256);
const N: Record<number, bigint> = { [SIGN_ALGO_ECDSA_P256]: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, [SIGN_ALGO_ECDSA_SECP256K1]: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n };

test('each verifies the other, low-S out, tampering refused by both', () => {
  fc.assert(
    fc.property(algos, hashes, fc.uint8Array({ minLength: 1, maxLength: 300 }), (sa, ha, msg) => {
      const sk = generateFlowPrivateKey(sa);
      const pk = flowPublicKeyFromPrivate(sk, sa);
      const byNode = nodeEcdsa.sign(msg, sk, sa, ha);
      const byNoble = nobleEcdsa.sign(msg, sk, sa, ha);
      assert.ok(nobleEcdsa.verify(msg, byNode, pk, sa, ha));
      assert.ok(nodeEcdsa.verify(msg, byNoble, pk, sa, ha));
      assert.ok(BigInt('0x' + Buffer.from(byNode.subarray(32)).toString('hex')) <= N[sa]! >> 1n);
      const other = msg.slice();
      other[0] = other[0]! ^ 1;
      assert.equal(nodeEcdsa.verify(other, byNoble, pk, sa, ha), false);
      assert.equal(nobleEcdsa.verify(other, byNode, pk, sa, ha), false);
      // Wrong hash algorithm or wrong curve: not valid.
      assert.equal(nodeEcdsa.verify(msg, byNode, pk, sa, ha === HASH_ALGO_SHA2_256 ? HASH_ALGO_SHA3_256 : HASH_ALGO_SHA2_256), false);
    }),
    { numRuns: 60 },
  );
});

test('high-S signatures are accepted by both, as flow-go does', () => {
  const sk = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
  const pk = flowPublicKeyFromPrivate(sk, SIGN_ALGO_ECDSA_P256);
  const msg = new TextEncoder().encode('high s');
  const sig = nobleEcdsa.sign(msg, sk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256);
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  const high = sig.slice();
  high.set(Buffer.from((N[SIGN_ALGO_ECDSA_P256]! - s).toString(16).padStart(64, '0'), 'hex'), 32);
  assert.ok(nodeEcdsa.verify(msg, high, pk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256));
  assert.ok(nobleEcdsa.verify(msg, high, pk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256));
});

test('malformed keys and signatures are "invalid", never a throw', () => {
  const msg = new Uint8Array([1, 2, 3]);
  const sig = new Uint8Array(64).fill(1);
  for (const pk of ['00'.repeat(64), 'zz', '11'.repeat(63), 'ab'.repeat(64)]) {
    assert.equal(nodeEcdsa.verify(msg, sig, pk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), false, pk);
  }
  assert.equal(nodeEcdsa.verify(msg, new Uint8Array(63), flowPublicKeyFromPrivate(generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256), SIGN_ALGO_ECDSA_P256), SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), false);
  assert.throws(() => nodeEcdsa.sign(msg, new Uint8Array(32), SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), { code: 'bad_private_key' });
});
