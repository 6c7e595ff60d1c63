import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTransactionMessage } from '../src/ledger/flow/flow-message-decoder.js';
import { envelopeMessage, normalizeTransaction, payloadMessage, type FlowTransaction } from '../src/ledger/flow/flow-transaction.js';
import { bytesToHex, hexToBytes } from '../src/ledger/flow/flow-hex.js';
import { templateTransaction } from '../src/ledger/flow/cadence-templates.js';
import { LatchError, isLatchError } from '../src/util/latch-error.js';
import { fromFcl, loadVectors, type FclTx } from './helpers/flow-vectors.js';

const fcl = loadVectors<{ payloadCases: { name: string; tx: FclTx; payloadHex: string; envelopeHex: string }[] }>('flow-fcl-encode.json');

test('decodes every fcl payload and envelope vector back to its transaction', () => {
  for (const c of fcl.payloadCases) {
    const tx = normalizeTransaction(fromFcl(c.tx));
    const p = decodeTransactionMessage(hexToBytes(c.payloadHex));
    assert.equal(p.kind, 'payload');
    assert.deepEqual(p.transaction, { ...tx, payloadSignatures: [], envelopeSignatures: [] }, c.name);
    const e = decodeTransactionMessage(hexToBytes(c.envelopeHex));
    assert.equal(e.kind, 'envelope');
    assert.deepEqual(e.transaction, { ...tx, envelopeSignatures: [] }, c.name);
  }
});

const txArb: fc.Arbitrary<FlowTransaction> = fc
  .record({
    amount: fc.bigInt({ min: 1n, max: 10n ** 12n }),
    ref: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    addrs: fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }).map(bytesToHex), { minLength: 2, maxLength: 2 }),
    seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    gas: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    sigs: fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 5 }), fc.uint8Array({ minLength: 64, maxLength: 64 })), { maxLength: 3 }),
  })
  .map((r) => {
    const units = r.amount.toString().padStart(9, '0');
    const tx = templateTransaction({
      network: 'emulator',
      call: { kind: 'transfer', amount: `${units.slice(0, -8)}.${units.slice(-8)}`, to: r.addrs[1]! },
      referenceBlockId: bytesToHex(r.ref),
      proposalKey: { address: r.addrs[0]!, keyIndex: 0, sequenceNumber: r.seq },
      payer: r.addrs[1]!,
      authorizer: r.addrs[0]!,
      gasLimit: r.gas,
    });
    const uniq = new Map(r.sigs.map(([who, k, s]) => [`${who}/${k}`, { address: who ? r.addrs[0]! : r.addrs[1]!, keyIndex: k, signature: bytesToHex(s) }]));
    return normalizeTransaction({ ...tx, payloadSignatures: [...uniq.values()] });
  });

test('payload and envelope messages round-trip (property)', () => {
  fc.assert(
    fc.property(txArb, (tx) => {
      assert.deepEqual(decodeTransactionMessage(payloadMessage(tx)).transaction, { ...tx, payloadSignatures: [] });
      assert.deepEqual(decodeTransactionMessage(envelopeMessage(tx)).transaction, tx);
    }),
    { numRuns: 150 },
  );
});

test('rejects other tags, trailing bytes and non-canonical encodings', () => {
  const msg = hexToBytes(fcl.payloadCases[0]!.payloadHex);
  const no = (b: Uint8Array, why: string) => assert.throws(() => decodeTransactionMessage(b), (e) => isLatchError(e, 'bad_transaction_message'), why);
  no(msg.subarray(32), 'no tag');
  const otherTag = Uint8Array.from(msg);
  otherTag[5]! ^= 1;
  no(otherTag, 'other tag');
  no(Uint8Array.from([...msg, 0]), 'trailing byte');
  no(msg.subarray(0, msg.length - 1), 'truncated');
  // gas limit 42 (0x2a) re-encoded as the two-byte string 0x812a is not canonical RLP.
  const hex = fcl.payloadCases[0]!.payloadHex;
  const i = hex.indexOf('2a880000000000000001');
  no(hexToBytes(hex.slice(0, 64) + 'f873' + hex.slice(68, i) + '812a' + hex.slice(i + 2)), 'non-canonical integer');
  // An envelope whose payload signature names signer index 5 (only one signer exists).
  const env = fcl.payloadCases[0]!.envelopeHex.replace('e4e38004a0', 'e4e30504a0');
  no(hexToBytes(env), 'signer index out of range');
});

test('fuzz: random and mutated messages throw only LatchError, and anything accepted re-encodes identically', () => {
  const seeds = fcl.payloadCases.flatMap((c) => [c.payloadHex, c.envelopeHex]).map((h) => hexToBytes(h));
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.uint8Array({ maxLength: 3 }), fc.nat({ max: 3 })).map(([s, at, ins, del]) => {
    const i = 32 + (at % (s.length - 31));
    return Uint8Array.from([...s.subarray(0, i), ...ins, ...s.subarray(i + del)]);
  });
  const random = fc.uint8Array({ maxLength: 200 }).map((b) => Uint8Array.from([...seeds[0]!.subarray(0, 32), ...b]));
  fc.assert(
    fc.property(fc.oneof(mutated, random), (m) => {
      try {
        const d = decodeTransactionMessage(m);
        const again = d.kind === 'payload' ? payloadMessage(d.transaction) : envelopeMessage(d.transaction);
        assert.equal(bytesToHex(again), bytesToHex(m));
      } catch (e) {
        assert.ok(e instanceof LatchError, String(e));
      }
    }),
    { numRuns: 5000 },
  );
});
