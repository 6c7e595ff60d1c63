/** Property tests and a fuzz pass over the protocol's parsers (they face the relay). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as P from '../src/protocol/index.js';
import { LatchError } from '../src/util/latch-error.js';

const onlyLatchErrors = (fn: () => unknown): void => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof LatchError)) throw e;
  }
};

test('base64url round-trips and has one text form per byte string', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const t = P.encodeBase64url(bytes);
      assert.deepEqual(P.decodeBase64url(t), bytes);
      assert.equal(t, Buffer.from(bytes).toString('base64url'));
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (t) => {
      onlyLatchErrors(() => {
        const b = P.decodeBase64url(t);
        assert.equal(P.encodeBase64url(b), t); // accepted only if canonical
      });
    }),
  );
});

test('standard base64 matches Buffer and accepts one text form per byte string', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const t = P.encodeBase64(bytes);
      assert.equal(t, Buffer.from(bytes).toString('base64'));
      assert.deepEqual(P.decodeBase64(t), bytes);
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (t) => {
      onlyLatchErrors(() => assert.equal(P.encodeBase64(P.decodeBase64(t)), t));
    }),
  );
  assert.throws(() => P.decodeBase64('AB=='), { code: 'bad_base64' }); // non-canonical bits
  assert.throws(() => P.decodeBase64('AA=A'), { code: 'bad_base64' }); // padding inside
});

test('pairing links round-trip', async () => {
  const s = await P.sodiumReady();
  const nameArb = fc.string({ minLength: 1, maxLength: 64 }).filter((n) => {
    try {
      return P.validateName(n) === n;
    } catch {
      return false;
    }
  });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), nameArb, fc.integer({ min: 1, max: 65535 }), (pk, qk, name, port) => {
      const link = { version: 1, computerPublicKey: pk, queueId: P.queueIdFromPublicKey(s, qk), name, relayUrl: `http://127.0.0.1:${port}` };
      const back = P.parsePairingLink(P.formatPairingLink(link));
      assert.deepEqual({ ...back, computerPublicKey: [...back.computerPublicKey] }, { ...link, computerPublicKey: [...pk] });
    }),
  );
});

test('fuzz: pairing link parser only ever throws LatchError', () => {
  const valid = 'latch://pair?v=1&pk=hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo&q=q7X4eaAw-z2Ctyzmk5E1OA&n=Ada%27s+laptop&r=http%3A%2F%2F127.0.0.1%3A8470';
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (t) => onlyLatchErrors(() => P.parsePairingLink(t))), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.string({ maxLength: 5 }), fc.nat(4), (at, insert, del) => {
      onlyLatchErrors(() => P.parsePairingLink(valid.slice(0, at) + insert + valid.slice(at + del)));
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: message parser only ever throws LatchError', () => {
  const valid = '{"v":1,"type":"request","request_id":"AAECAwQFBgcICQoLDA0ODw","unix_seconds":1767225600,"body":{"kind":"me"}}';
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyLatchErrors(() => P.parseMessage(b))), { numRuns: 2000 });
  fc.assert(fc.property(fc.json(), (j) => onlyLatchErrors(() => P.parseMessage(new TextEncoder().encode(j)))), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.string({ maxLength: 4 }), fc.nat(3), (at, insert, del) => {
      onlyLatchErrors(() => P.parseMessage(new TextEncoder().encode(valid.slice(0, at) + insert + valid.slice(at + del))));
    }),
    { numRuns: 3000 },
  );
});

test('any altered byte of a boxed or sealed envelope is rejected', async () => {
  const s = await P.sodiumReady();
  const a = s.crypto_box_keypair();
  const b = s.crypto_box_keypair();
  const env = P.boxMessageRandom(s, new TextEncoder().encode('{"v":1}'), b.publicKey, a.privateKey);
  const sealed = P.sealPairingOffer(s, { authenticatorPublicKey: b.publicKey, authenticatorQueueId: 'AAAAAAAAAAAAAAAAAAAAAA' }, a.publicKey);
  fc.assert(
    fc.property(fc.nat(env.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const bad = env.slice();
      bad[i] = bad[i]! ^ x;
      assert.throws(() => P.openBoxedMessage(s, bad, a.publicKey, b.privateKey), (e: LatchError) => e.code === 'envelope_rejected' || e.code === 'unsupported_version');
    }),
  );
  fc.assert(
    fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const bad = sealed.slice();
      bad[i] = bad[i]! ^ x;
      assert.throws(() => P.openPairingOffer(s, bad, a.publicKey, a.privateKey), (e: LatchError) => e.code === 'envelope_rejected' || e.code === 'unsupported_version');
    }),
  );
  // Truncated and extended envelopes too (strict lengths).
  assert.throws(() => P.openPairingOffer(s, sealed.subarray(0, sealed.length - 1), a.publicKey, a.privateKey), { code: 'envelope_rejected' });
  assert.throws(() => P.openPairingOffer(s, new Uint8Array([...sealed, 0]), a.publicKey, a.privateKey), { code: 'envelope_rejected' });
  // From the right sender only.
  const c = s.crypto_box_keypair();
  assert.throws(() => P.openBoxedMessage(s, env, c.publicKey, b.privateKey), { code: 'envelope_rejected', message: 'message could not be authenticated' });
  // A future envelope version is named as such.
  const v2 = env.slice();
  v2[0] = 2;
  assert.throws(() => P.openBoxedMessage(s, v2, a.publicKey, b.privateKey), { code: 'unsupported_version' });
});

test('freshness window is 15 minutes either way', () => {
  P.checkFresh(1000, 1000 + 900);
  P.checkFresh(1000 + 900, 1000);
  assert.throws(() => P.checkFresh(1000, 1000 + 901), { code: 'stale_message' });
  assert.throws(() => P.checkFresh(1000 + 901, 1000), { code: 'stale_message' });
});
