import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromRestAccount, fromRestAccountKey, fromRestTransaction, toRestAccountKey, toRestTransaction } from '../src/ledger/flow/flow-rest-shape.js';
import { decodeBase64, encodeBase64 } from '../src/protocol/base64url.js';
import { normalizeTransaction, transactionId, type FlowTransaction } from '../src/ledger/flow/flow-transaction.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { LatchError, isLatchError } from '../src/util/latch-error.js';
import { fromFcl, loadVectors, type FclTx } from './helpers/flow-vectors.js';

const fcl = loadVectors<{ txIdCases: { tx: FclTx; txId: string }[] }>('flow-fcl-encode.json');
const sample: FlowTransaction = fromFcl(fcl.txIdCases[1]!.tx);

test('REST transaction shape: field names and encodings as the Access API (openapi/access.yaml)', () => {
  const rest = toRestTransaction(sample, { withId: true });
  assert.deepEqual(Object.keys(rest), [
    'id', 'script', 'arguments', 'reference_block_id', 'gas_limit', 'payer', 'proposal_key', 'authorizers', 'payload_signatures', 'envelope_signatures',
  ]);
  assert.equal(rest.id, fcl.txIdCases[1]!.txId);
  assert.equal(Buffer.from(rest.script, 'base64').toString('utf8'), sample.script);
  assert.equal(rest.gas_limit, '42');
  assert.deepEqual(rest.proposal_key, { address: '0000000000000001', key_index: '4', sequence_number: '10' });
  assert.deepEqual(rest.payload_signatures, [
    { address: '0000000000000001', key_index: '4', signature: Buffer.from('f7225388c1d69d57e6251c9fda50cbbf9e05131e5adb81e5aa0422402f048162', 'hex').toString('base64') },
  ]);
  assert.deepEqual(fromRestTransaction(rest), normalizeTransaction(sample));
});

test('REST transaction: a response whose id does not match its contents is refused', () => {
  const rest = toRestTransaction(sample, { withId: true });
  assert.throws(() => fromRestTransaction({ ...rest, gas_limit: '43' }), (e) => isLatchError(e, 'id_mismatch'));
  assert.throws(() => fromRestTransaction({ ...rest, extra: 1 }), (e) => isLatchError(e, 'bad_rest_shape'));
  assert.throws(() => fromRestTransaction({ ...rest, gas_limit: 42 }), (e) => isLatchError(e, 'bad_rest_shape'));
  assert.throws(() => fromRestTransaction({ ...rest, gas_limit: '042' }), (e) => isLatchError(e, 'bad_rest_shape'));
  const { payer: _p, ...missing } = rest;
  assert.throws(() => fromRestTransaction(missing), (e) => isLatchError(e, 'bad_rest_shape'));
});

const txArb: fc.Arbitrary<FlowTransaction> = fc
  .record({
    script: fc.string({ maxLength: 200 }).filter((s) => !/\p{Cs}/u.test(s)),
    args: fc.array(fc.string({ maxLength: 40 }).filter((s) => !/\p{Cs}/u.test(s)), { maxLength: 3 }),
    ref: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    gas: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    addrs: fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }).map(bytesToHex), { minLength: 1, maxLength: 3 }),
    seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    sigs: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xffffffff }), fc.uint8Array({ maxLength: 70 })), { maxLength: 4 }),
  })
  .map((r) => ({
    script: r.script,
    arguments: r.args,
    referenceBlockId: bytesToHex(r.ref),
    gasLimit: r.gas,
    proposalKey: { address: r.addrs[0]!, keyIndex: 1, sequenceNumber: r.seq },
    payer: r.addrs[r.addrs.length - 1]!,
    authorizers: r.addrs,
    payloadSignatures: r.sigs.map(([a, k, s]) => ({ address: r.addrs[a % r.addrs.length]!, keyIndex: k, signature: bytesToHex(s) })),
    envelopeSignatures: [],
  }));

test('REST transaction round trip (property) keeps the id', () => {
  fc.assert(
    fc.property(txArb, (tx) => {
      const back = fromRestTransaction(JSON.parse(JSON.stringify(toRestTransaction(tx, { withId: true }))));
      assert.deepEqual(back, normalizeTransaction(tx));
      assert.equal(transactionId(back), transactionId(tx));
    }),
    { numRuns: 200 },
  );
});

test('REST account key: API field names, both spellings of the algorithm accepted', () => {
  const key = { index: 2, publicKey: 'ab'.repeat(64), signAlgo: 2 as const, hashAlgo: 3 as const, weight: 500, sequenceNumber: 9, revoked: true };
  const rest = toRestAccountKey(key);
  assert.deepEqual(rest, { index: '2', public_key: 'ab'.repeat(64), signing_algorithm: 'ECDSA_P256', hashing_algorithm: 'SHA3_256', sequence_number: '9', weight: '500', revoked: true });
  assert.deepEqual(fromRestAccountKey(rest), key);
  assert.deepEqual(fromRestAccountKey({ ...rest, signing_algorithm: 'ECDSAP256', public_key: '0x' + rest.public_key }), key);
  assert.throws(() => fromRestAccountKey({ ...rest, signing_algorithm: 'BLSBLS12381' }), (e) => isLatchError(e, 'bad_rest_shape'));
  assert.throws(() => fromRestAccountKey({ ...rest, weight: '1001' }), (e) => isLatchError(e, 'bad_key'));
  assert.throws(() => fromRestAccountKey({ ...rest, revoked: 'false' }), (e) => isLatchError(e, 'bad_rest_shape'));
});

test('strict standard base64', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
    const s = encodeBase64(b);
    assert.equal(s, Buffer.from(b).toString('base64'));
    assert.deepEqual(decodeBase64(s), b);
  }));
  for (const bad of ['QQ', 'QR==', 'Q===', 'QQ=a', 'QUJD\n', 'QU-D', '====']) {
    assert.throws(() => decodeBase64(bad), (e) => isLatchError(e, 'bad_base64'), bad);
  }
});

test('fuzz: REST parsers throw only LatchError on random and mutated responses', () => {
  const restTx = toRestTransaction(sample, { withId: true }) as unknown as Record<string, unknown>;
  const account = {
    address: '0000000000000001',
    balance: '100',
    keys: [toRestAccountKey({ index: 0, publicKey: 'ab'.repeat(64), signAlgo: 2, hashAlgo: 1, weight: 1000, sequenceNumber: 0, revoked: false })],
    _expandable: {},
  } as Record<string, unknown>;
  const mutate = (o: Record<string, unknown>) =>
    fc.tuple(fc.constantFrom(...Object.keys(o)), fc.oneof(fc.anything(), fc.string(), fc.constant(undefined))).map(([k, v]) => ({ ...o, [k]: v }));
  const textMutate = (o: unknown) =>
    fc.tuple(fc.nat(), fc.string({ maxLength: 2 })).map(([at, ins]) => {
      const s = JSON.stringify(o);
      const i = at % s.length;
      try {
        return JSON.parse(s.slice(0, i) + ins + s.slice(i + 1)) as unknown;
      } catch {
        return s;
      }
    });
  fc.assert(
    fc.property(fc.oneof(fc.anything(), fc.json().map((j) => JSON.parse(j) as unknown), mutate(restTx), mutate(account), textMutate(restTx), textMutate(account)), (input) => {
      for (const parse of [fromRestTransaction, fromRestAccount, fromRestAccountKey] as ((x: unknown) => unknown)[]) {
        try {
          parse(input);
        } catch (e) {
          assert.ok(e instanceof LatchError, `${parse.name}: ${String(e)}`);
        }
      }
    }),
    { numRuns: 3000 },
  );
});
