import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sha3_256 } from '@noble/hashes/sha3.js';
import {
  findTemplate,
  parseTemplateCall,
  templateArguments,
  templateFor,
  templateTransaction,
  type FlowNetwork,
  type TemplateCall,
} from '../src/ledger/flow/cadence-templates.js';
import { cadenceArg, parseAmount, parseCadenceArg, ufix64ToUnits, unitsToUFix64 } from '../src/ledger/flow/json-cadence.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { isLatchError, LatchError } from '../src/util/latch-error.js';
import { testKey } from './helpers/flow-keys.js';

const NETS: FlowNetwork[] = ['emulator', 'testnet', 'mainnet'];

test('templates: Cadence 1.0 account API, hashes are SHA3-256 of the script, all distinct', () => {
  const hashes = new Set<string>();
  for (const n of NETS) {
    const t = templateFor(n, 'transfer');
    assert.match(t.script, /transaction\(amount: UFix64, to: Address\)/);
    assert.match(t.script, /auth\(BorrowValue\) &Account/);
    assert.match(t.script, /auth\(FungibleToken\.Withdraw\) &FlowToken\.Vault/);
    const add = templateFor(n, 'add-key');
    assert.match(add.script, /prepare\(signer: auth\(AddKey\) &Account\)/);
    assert.match(add.script, /signer\.keys\.add\(\s*publicKey: key,/);
    const rev = templateFor(n, 'revoke-key');
    assert.match(rev.script, /prepare\(signer: auth\(RevokeKey\) &Account\)/);
    assert.match(rev.script, /signer\.keys\.revoke\(keyIndex: keyIndex\)/);
    for (const x of [t, add, rev]) {
      assert.equal(x.scriptHash, bytesToHex(sha3_256(new TextEncoder().encode(x.script))));
      assert.equal(findTemplate(n, x.script), x);
    }
    hashes.add(t.scriptHash);
  }
  assert.equal(hashes.size, 3, 'transfer differs per network (contract addresses)');
  assert.match(templateFor('testnet', 'transfer').script, /import FlowToken from 0x7e60df042a9c0868/);
  assert.match(templateFor('mainnet', 'transfer').script, /import FungibleToken from 0xf233dcee88fe0abe/);
  assert.equal(findTemplate('emulator', templateFor('emulator', 'transfer').script + ' '), undefined);
});

const callArb: fc.Arbitrary<TemplateCall> = fc.oneof(
  fc.tuple(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(
    ([u, a]) => ({ kind: 'transfer', amount: unitsToUFix64(u), to: '0x' + bytesToHex(a) }) as TemplateCall,
  ),
  fc.tuple(fc.constantFrom<2 | 3>(2, 3), fc.constantFrom<1 | 3>(1, 3), fc.integer({ min: 0, max: 1000 })).map(
    ([s, h, w]) => ({ kind: 'add-key', key: testKey(s, h, w).account }) as TemplateCall,
  ),
  fc.nat({ max: 0xffffffff }).map((keyIndex) => ({ kind: 'revoke-key', keyIndex }) as TemplateCall),
);

test('template arguments round-trip through the strict parser', () => {
  fc.assert(
    fc.property(callArb, fc.constantFrom(...NETS), (call, n) => {
      const args = templateArguments(call);
      assert.deepEqual(parseTemplateCall(n, templateFor(n, call.kind).script, args), call);
    }),
    { numRuns: 150 },
  );
});

test('add-key arguments use Cadence enum raw values (P-256 = 1, secp256k1 = 2; SHA2 = 1, SHA3 = 3)', () => {
  const k = testKey(3, 3, 500).account;
  const args = templateArguments({ kind: 'add-key', key: k });
  assert.deepEqual(args.slice(1), ['{"type":"UInt8","value":"2"}', '{"type":"UInt8","value":"3"}', '{"type":"UFix64","value":"500.00000000"}']);
  assert.equal(args[0], JSON.stringify({ type: 'String', value: k.publicKey }));
});

test('UFix64: exactly 8 decimals, range-checked; amounts for people are canonicalised', () => {
  assert.equal(ufix64ToUnits('184467440737.09551615'), (1n << 64n) - 1n);
  for (const bad of ['184467440737.09551616', '10', '10.0', '010.00000000', '1.000000000', '-1.00000000', ' 1.00000000', '1e3', '']) {
    assert.throws(() => ufix64ToUnits(bad), (e) => isLatchError(e, 'bad_argument'), bad);
  }
  assert.equal(parseAmount('10'), '10.00000000');
  assert.equal(parseAmount('0.5'), '0.50000000');
  assert.throws(() => parseAmount('0.123456789'), (e) => isLatchError(e, 'bad_argument'));
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (u) => ufix64ToUnits(unitsToUFix64(u)) === u));
});

test('JSON-Cadence parsers accept only the canonical text', () => {
  assert.equal(parseCadenceArg.address(cadenceArg.address('F8D6E0586B0A20C7')), '0xf8d6e0586b0a20c7');
  const rejects: [keyof typeof parseCadenceArg, string][] = [
    ['ufix64', '{"type":"UFix64","value":"1.0"}'],
    ['ufix64', '{ "type":"UFix64","value":"1.00000000"}'],
    ['ufix64', '{"value":"1.00000000","type":"UFix64"}'],
    ['ufix64', '{"type":"UFix64","value":"1.00000000","x":1}'],
    ['ufix64', '{"type":"UFix64","value":1}'],
    ['ufix64', '{"type":"UFix64","value":"1.00000000"}\n'],
    ['address', '{"type":"Address","value":"0xF8D6E0586B0A20C7"}'],
    ['address', '{"type":"Address","value":"f8d6e0586b0a20c7"}'],
    ['uint8', '{"type":"UInt8","value":"256"}'],
    ['uint8', '{"type":"UInt8","value":"01"}'],
    ['int', '{"type":"Int","value":"-0"}'],
    ['int', '{"type":"Int","value":"9007199254740993"}'],
    ['string', '{"type":"String","value":null}'],
    ['bytes', '{"type":"Array","value":[{"type":"UInt16","value":"1"}]}'],
    ['bytes', '{"type":"Array","value":[{"type":"UInt8","value":"300"}]}'],
    ['string', 'not json'],
    ['string', '[]'],
  ];
  for (const [kind, text] of rejects) {
    assert.throws(() => (parseCadenceArg[kind] as (t: string) => unknown)(text), (e) => isLatchError(e, 'bad_argument'), text);
  }
  assert.deepEqual(parseCadenceArg.bytes(cadenceArg.bytes(Uint8Array.from([0, 1, 255]))), Uint8Array.from([0, 1, 255]));
  assert.equal(parseCadenceArg.uint32(cadenceArg.uint32(4294967295)), 4294967295);
  assert.equal(parseCadenceArg.int(cadenceArg.int(-5)), -5);
});

test('fuzz: JSON-Cadence and template parsers throw only LatchError on random and mutated input', () => {
  const seeds = templateArguments({ kind: 'add-key', key: testKey(2, 1, 500).account }).concat(
    templateArguments({ kind: 'transfer', amount: '1.50000000', to: '0x0000000000000001' }),
  );
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 })).map(([s, at, ins, del]) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + ins + s.slice(i + del);
  });
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json(), mutated), (text) => {
      for (const p of Object.values(parseCadenceArg)) {
        try {
          (p as (t: string) => unknown)(text);
        } catch (e) {
          assert.ok(e instanceof LatchError, String(e));
        }
      }
      for (const kind of ['transfer', 'add-key', 'revoke-key'] as const) {
        try {
          parseTemplateCall('emulator', templateFor('emulator', kind).script, [text, text, text, text].slice(0, kind === 'transfer' ? 2 : kind === 'add-key' ? 4 : 1));
        } catch (e) {
          assert.ok(e instanceof LatchError, String(e));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('templateTransaction builds an unsigned transaction with one authorizer', () => {
  const tx = templateTransaction({
    network: 'testnet',
    call: { kind: 'revoke-key', keyIndex: 3 },
    referenceBlockId: 'AB'.repeat(32),
    proposalKey: { address: '0000000000000001', keyIndex: 0, sequenceNumber: 7 },
    payer: '0x0000000000000001',
    authorizer: '0000000000000001',
  });
  assert.equal(tx.script, templateFor('testnet', 'revoke-key').script);
  assert.deepEqual(tx.arguments, ['{"type":"Int","value":"3"}']);
  assert.equal(tx.referenceBlockId, 'ab'.repeat(32));
  assert.deepEqual(tx.authorizers, ['0x0000000000000001']);
  assert.equal(tx.payloadSignatures.length + tx.envelopeSignatures.length, 0);
  assert.throws(() => templateArguments({ kind: 'transfer', amount: '0.00000000', to: '0x0000000000000001' }), (e) => isLatchError(e, 'bad_argument'));
});
