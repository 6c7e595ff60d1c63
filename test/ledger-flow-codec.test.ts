import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeTransactionEnvelope, encodeTransactionPayload, encodeTxIdFromVoucher } from '@onflow/sdk';
import {
  encodeEnvelopeRlp,
  encodePayloadRlp,
  envelopeMessage,
  normalizeTransaction,
  parseFlowAddress,
  payloadMessage,
  signerIndex,
  signerList,
  transactionId,
  TRANSACTION_DOMAIN_TAG,
  type FlowTransaction,
} from '../src/ledger/flow/flow-transaction.js';
import { decodeAccountKey, encodeAccountKey, type FlowHashAlgo, type FlowSignAlgo } from '../src/ledger/flow/flow-account-key.js';
import { bytesToHex, hexToBytes } from '../src/ledger/flow/flow-hex.js';
import { isLatchError } from '../src/util/latch-error.js';
import { fromFcl, loadVectors, type FclTx } from './helpers/flow-vectors.js';

interface FclVectors {
  domainTagHex: string;
  payloadCases: { name: string; tx: FclTx; payloadHex: string; envelopeHex: string }[];
  envelopeCases: { name: string; tx: FclTx; envelopeHex: string }[];
  txIdCases: { name: string; tx: FclTx; txId: string }[];
}
const fcl = loadVectors<FclVectors>('flow-fcl-encode.json');

test('domain tag is FLOW-V0.0-transaction right-padded to 32 bytes (fcl vector)', () => {
  assert.equal(bytesToHex(TRANSACTION_DOMAIN_TAG), fcl.domainTagHex);
});

for (const c of fcl.payloadCases) {
  test(`fcl encode.test.ts payload+envelope: ${c.name}`, () => {
    const tx = fromFcl(c.tx);
    assert.equal(bytesToHex(payloadMessage(tx)), c.payloadHex);
    assert.equal(bytesToHex(envelopeMessage(tx)), c.envelopeHex);
  });
}
for (const c of fcl.envelopeCases) {
  test(`fcl encode.test.ts envelope: ${c.name}`, () => {
    assert.equal(bytesToHex(envelopeMessage(fromFcl(c.tx))), c.envelopeHex);
  });
}
for (const c of fcl.txIdCases) {
  test(`fcl encode.test.ts tx id: ${c.name}`, () => {
    assert.equal(transactionId(fromFcl(c.tx)), c.txId);
  });
}

interface GoVectors {
  rlpCases: { name: string; tx: FlowTransaction; payloadRlpHex: string; envelopeRlpHex: string }[];
  txIdCases: { name: string; tx: FlowTransaction; txId: string }[];
}
const go = loadVectors<GoVectors>('flow-go-sdk-transaction.json');
for (const c of go.rlpCases) {
  test(`flow-go-sdk TestTransaction_RLPMessages: ${c.name}`, () => {
    assert.equal(bytesToHex(encodePayloadRlp(c.tx)), c.payloadRlpHex);
    assert.equal(bytesToHex(encodeEnvelopeRlp(c.tx)), c.envelopeRlpHex);
  });
}
for (const c of go.txIdCases) {
  test(`flow-go-sdk ${c.name}: tx id`, () => {
    assert.equal(transactionId(c.tx), c.txId);
  });
}

interface KeyVectors {
  cases: { name: string; publicKey: string; signAlgo: FlowSignAlgo; hashAlgo: FlowHashAlgo; weight: number; encodedHex: string }[];
}
const keys = loadVectors<KeyVectors>('flow-encode-key.json');
test(`util-encode-key: all ${keys.cases.length} snapshot cases encode and decode exactly`, () => {
  assert.equal(keys.cases.length, 48);
  for (const c of keys.cases) {
    const enc = encodeAccountKey(c);
    assert.equal(bytesToHex(enc), c.encodedHex, c.name);
    assert.deepEqual(decodeAccountKey(enc), { publicKey: c.publicKey, signAlgo: c.signAlgo, hashAlgo: c.hashAlgo, weight: c.weight });
  }
});

test('account key decoder rejects trailing bytes, non-canonical ints and bad algorithms', () => {
  const c = keys.cases[3]!;
  const good = hexToBytes(c.encodedHex);
  const bad = (b: Uint8Array) => assert.throws(() => decodeAccountKey(b), (e) => isLatchError(e, 'bad_key'));
  bad(Uint8Array.from([...good, 0]));
  bad(good.subarray(0, good.length - 1));
  // weight 1000 = 0x8203e8; a leading zero byte (0x830003e8) is not canonical RLP for an integer
  const hex = c.encodedHex;
  bad(hexToBytes('f848' + hex.slice(4, hex.length - 6) + '830003e8'));
  // signature algorithm 4 is not one Flow's ECDSA keys use
  bad(hexToBytes(hex.slice(0, 4 + 4 + 128) + '04' + hex.slice(4 + 4 + 128 + 2)));
  assert.equal(hex.slice(136, 138), '02'); // the mutation above hit the signature algorithm byte
  // weight 1001
  bad(hexToBytes(hex.slice(0, hex.length - 6) + '8203e9'));
});

test('addresses: strict 8 bytes, 0x optional, canonical lowercase out', () => {
  assert.equal(parseFlowAddress('F8D6E0586B0A20C7'), '0xf8d6e0586b0a20c7');
  assert.equal(parseFlowAddress('0xf8d6e0586b0a20c7'), '0xf8d6e0586b0a20c7');
  for (const bad of ['01', '0x01', 'f8d6e0586b0a20c7aa', '0Xf8d6e0586b0a20c7', ' f8d6e0586b0a20c7', 'g8d6e0586b0a20c7', '0x', '']) {
    assert.throws(() => parseFlowAddress(bad), (e) => isLatchError(e, 'bad_address'), bad);
  }
});

test('signer list: proposer, payer, authorizers, deduplicated in that order', () => {
  const tx = {
    proposalKey: { address: '0000000000000003', keyIndex: 0, sequenceNumber: 0 },
    payer: '0000000000000001',
    authorizers: ['0000000000000003', '0000000000000002', '0000000000000001'],
  };
  assert.deepEqual(signerList(tx), ['0x0000000000000003', '0x0000000000000001', '0x0000000000000002']);
  assert.equal(signerIndex(tx, '0x0000000000000002'), 2);
  assert.equal(signerIndex(tx, '0x0000000000000009'), -1);
});

test('a signature from a non-signer is refused', () => {
  const tx = fromFcl(fcl.payloadCases[0]!.tx);
  tx.payloadSignatures = [{ address: '0000000000000009', keyIndex: 0, signature: '00' }];
  assert.throws(() => encodeEnvelopeRlp(tx), (e) => isLatchError(e, 'bad_transaction'));
});

const wellFormed = (s: string): boolean => !/\p{Cs}/u.test(s);

// ---- independent cross-check against @onflow/sdk over random transactions ----

const hexOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map(bytesToHex);
const addressArb = fc.constantFrom('0000000000000001', 'f8d6e0586b0a20c7', 'ee82856bf20e2aa6', '0ae53cb6e3f42a79', 'ffffffffffffffff');
const argArb = fc.oneof(
  fc.string().map((s) => ({ type: 'String', value: s })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => ({ type: 'UInt64', value: n.toString() })),
  fc.tuple(fc.nat({ max: 999999 }), fc.nat({ max: 99999999 })).map(([a, b]) => ({ type: 'UFix64', value: `${a}.${String(b).padStart(8, '0')}` })),
);
const sigArb = (signers: string[]) =>
  fc.record({ address: fc.constantFrom(...signers), keyIndex: fc.nat({ max: 0xffffffff }), signature: fc.oneof(hexOf(64), fc.uint8Array({ maxLength: 80 }).map(bytesToHex)) });

const txArb = fc
  .record({
    script: fc.string({ unit: 'binary', maxLength: 300 }),
    args: fc.array(argArb, { maxLength: 4 }),
    referenceBlockId: hexOf(32),
    gasLimit: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    proposer: addressArb,
    keyIndex: fc.nat({ max: 0xffffffff }),
    sequenceNumber: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    payer: addressArb,
    authorizers: fc.array(addressArb, { maxLength: 4 }),
  })
  .chain((r) => {
    const signers = [...new Set([r.proposer, r.payer, ...r.authorizers])];
    return fc.record({ r: fc.constant(r), payloadSigs: fc.array(sigArb(signers), { maxLength: 5 }), envelopeSigs: fc.array(sigArb(signers), { maxLength: 3 }) });
  });

test('payload, envelope and tx id match @onflow/sdk on random transactions', () => {
  fc.assert(
    fc.property(txArb, ({ r, payloadSigs, envelopeSigs }) => {
      // Lone surrogates cannot round-trip through UTF-8; both encoders would replace them.
      fc.pre(wellFormed(r.script) && r.args.every((a) => wellFormed(JSON.stringify(a))));
      const tx: FlowTransaction = {
        script: r.script,
        arguments: r.args.map((a) => JSON.stringify(a)),
        referenceBlockId: r.referenceBlockId,
        gasLimit: r.gasLimit,
        proposalKey: { address: r.proposer, keyIndex: r.keyIndex, sequenceNumber: r.sequenceNumber },
        payer: r.payer,
        authorizers: r.authorizers,
        payloadSignatures: payloadSigs,
        envelopeSignatures: envelopeSigs,
      };
      const voucher = {
        cadence: r.script,
        arguments: r.args,
        refBlock: r.referenceBlockId,
        computeLimit: r.gasLimit,
        proposalKey: { address: r.proposer, keyId: r.keyIndex, sequenceNum: r.sequenceNumber },
        payer: r.payer,
        authorizers: r.authorizers,
        payloadSigs: payloadSigs.map((s) => ({ address: s.address, keyId: s.keyIndex, sig: s.signature })),
        envelopeSigs: envelopeSigs.map((s) => ({ address: s.address, keyId: s.keyIndex, sig: s.signature })),
      };
      const v = voucher as any;
      assert.equal(bytesToHex(payloadMessage(tx)), encodeTransactionPayload(structuredClone(v)));
      assert.equal(bytesToHex(envelopeMessage(tx)), encodeTransactionEnvelope(structuredClone(v)));
      assert.equal(transactionId(tx), encodeTxIdFromVoucher(structuredClone(v)));
    }),
    { numRuns: 400 },
  );
});

test('normalizeTransaction is idempotent and encoding ignores signature input order', () => {
  fc.assert(
    fc.property(txArb, fc.nat(), ({ r, payloadSigs, envelopeSigs }, seed) => {
      const tx: FlowTransaction = {
        script: wellFormed(r.script) ? r.script : '',
        arguments: [],
        referenceBlockId: r.referenceBlockId,
        gasLimit: r.gasLimit,
        proposalKey: { address: r.proposer, keyIndex: r.keyIndex, sequenceNumber: r.sequenceNumber },
        payer: r.payer,
        authorizers: r.authorizers,
        payloadSignatures: payloadSigs,
        envelopeSignatures: envelopeSigs,
      };
      const n = normalizeTransaction(tx);
      assert.deepEqual(normalizeTransaction(n), n);
      // Distinct (signer, key) pairs: reordering the input must not change the id.
      const uniq = (l: typeof payloadSigs) => [...new Map(l.map((s) => [`${s.address}/${s.keyIndex}`, s])).values()];
      const a = { ...tx, payloadSignatures: uniq(payloadSigs), envelopeSignatures: uniq(envelopeSigs) };
      const rot = <T,>(l: T[]) => (l.length ? [...l.slice(seed % l.length), ...l.slice(0, seed % l.length)] : l);
      const b = { ...a, payloadSignatures: rot(a.payloadSignatures), envelopeSignatures: rot(a.envelopeSignatures).reverse() };
      assert.equal(transactionId(a), transactionId(b));
    }),
    { numRuns: 200 },
  );
});

test('malformed transactions are refused with stable codes', () => {
  const base = fromFcl(fcl.payloadCases[0]!.tx);
  const cases: [Partial<FlowTransaction> | Record<string, unknown>, string][] = [
    [{ referenceBlockId: 'ab' }, 'bad_hex'],
    [{ referenceBlockId: 'zz'.repeat(32) }, 'bad_hex'],
    [{ gasLimit: -1 }, 'bad_transaction'],
    [{ gasLimit: 1.5 }, 'bad_transaction'],
    [{ gasLimit: 2 ** 53 }, 'bad_transaction'],
    [{ payer: '0x01' }, 'bad_address'],
    [{ arguments: [1] }, 'bad_transaction'],
    [{ authorizers: 'x' }, 'bad_transaction'],
    [{ proposalKey: { address: '0000000000000001', keyIndex: 2 ** 32, sequenceNumber: 0 } }, 'bad_transaction'],
    [{ payloadSignatures: [{ address: '0000000000000001', keyIndex: 0, signature: 'abc' }] }, 'bad_hex'],
  ];
  for (const [patch, code] of cases) {
    assert.throws(() => transactionId({ ...base, ...patch } as FlowTransaction), (e) => isLatchError(e, code), JSON.stringify(patch));
  }
});

test('fuzz: normalizeTransaction throws only LatchError on random and mutated input', () => {
  const base = fromFcl(fcl.txIdCases[1]!.tx) as unknown as Record<string, unknown>;
  const mutated = fc
    .tuple(fc.constantFrom(...Object.keys(base)), fc.anything())
    .map(([k, v]) => ({ ...base, [k]: v }));
  const nested = fc
    .tuple(fc.constantFrom('address', 'keyIndex', 'sequenceNumber', 'signature'), fc.anything())
    .map(([k, v]) => ({
      ...base,
      proposalKey: { ...(base.proposalKey as object), [k]: v },
      payloadSignatures: [{ ...((base.payloadSignatures as object[])[0] as object), [k]: v }],
    }));
  fc.assert(
    fc.property(fc.oneof(fc.anything(), mutated, nested), (input) => {
      try {
        transactionId(input as FlowTransaction);
      } catch (e) {
        assert.ok(isLatchError(e), String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
