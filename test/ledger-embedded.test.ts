import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedLedger } from '../src/ledger/embedded-ledger.js';
import { templateTransaction, templateFor, templateArguments, type TemplateCall } from '../src/ledger/flow/cadence-templates.js';
import { signTransactionEnvelope, signTransactionPayload, signFlowMessage } from '../src/ledger/flow/flow-signer.js';
import { payloadMessage, transactionId, type FlowTransaction } from '../src/ledger/flow/flow-transaction.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { cadenceArg } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';
import { signerFor, testKey, type TestKey } from './helpers/flow-keys.js';
import { embeddedLedgerFor } from './helpers/custody-pg.js';

interface World {
  dir: string;
  ledger: EmbeddedLedger;
  device: TestKey;
  server: TestKey;
  recovery: TestKey;
  alice: string; // 2-of-3 custody account: device 0, server 1, recovery 2
  bob: string; // single full-weight key
  bobKey: TestKey;
}

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-ledger-'));
  const ledger = await embeddedLedgerFor(dir);
  const device = testKey(2, 1, 500); // P-256 + SHA2-256, as a secure element
  const server = testKey(3, 3, 500); // secp256k1 + SHA3-256: the ledger must honour each key's own algorithms
  const recovery = testKey(2, 3, 500);
  const bobKey = testKey(2, 1, 1000);
  const alice = await ledger.createAccount([device.account, server.account, recovery.account], '100.0');
  const bob = await ledger.createAccount([bobKey.account], '5');
  return { dir, ledger, device, server, recovery, alice, bob, bobKey };
}

async function done(w: World): Promise<void> {
  await w.ledger.close();
  rmSync(w.dir, { recursive: true, force: true });
}

/** Unsigned template tx from alice, proposer = alice's key `proposer`, alice pays. */
async function aliceTx(w: World, call: TemplateCall, proposer = 0): Promise<FlowTransaction> {
  const acct = await w.ledger.getAccount(w.alice);
  return templateTransaction({
    network: w.ledger.network,
    call,
    referenceBlockId: await w.ledger.latestBlockId(),
    proposalKey: { address: w.alice, keyIndex: proposer, sequenceNumber: acct.keys[proposer]!.sequenceNumber },
    payer: w.alice,
    authorizer: w.alice,
  });
}

/** Alice is payer and authorizer: her keys sign the envelope. */
function envelopeBy(w: World, tx: FlowTransaction, ...keys: [TestKey, number][]): FlowTransaction {
  return keys.reduce((t, [k, i]) => signTransactionEnvelope(t, signerFor(k, w.alice, i)), tx);
}

async function snapshot(w: World): Promise<string> {
  return JSON.stringify([await w.ledger.getAccount(w.alice), await w.ledger.getAccount(w.bob), await w.ledger.latestBlockId()]);
}

async function refused(w: World, tx: FlowTransaction, code: string): Promise<void> {
  const before = await snapshot(w);
  await assert.rejects(w.ledger.sendTransaction(tx), (e) => isLatchError(e, code) && e.message.length > 0);
  assert.equal(await snapshot(w), before, `state changed after a refused transaction (${code})`);
}

const pay = (w: World, amount = '10.00000000'): TemplateCall => ({ kind: 'transfer', amount, to: w.bob });

test('createAccount: Flow-format address, keys 0..2 of weight 500, balance as UFix64', async () => {
  const w = await world();
  try {
    const a = await w.ledger.getAccount(w.alice);
    assert.match(a.address, /^0x[0-9a-f]{16}$/);
    assert.notEqual(w.alice, w.bob);
    assert.equal(a.balance, '100.00000000');
    assert.deepEqual(
      a.keys.map((k) => [k.index, k.weight, k.sequenceNumber, k.revoked, k.signAlgo, k.hashAlgo]),
      [[0, 500, 0, false, 2, 1], [1, 500, 0, false, 3, 3], [2, 500, 0, false, 2, 3]],
    );
    await assert.rejects(w.ledger.getAccount('0x0000000000000001'), (e) => isLatchError(e, 'unknown_account'));
    await assert.rejects(w.ledger.createAccount([{ ...w.device.account, publicKey: '11'.repeat(64) }], '1'), (e) => isLatchError(e, 'bad_key'));
  } finally {
    await done(w);
  }
});

test('device + server move funds; sequence number increments; transaction is recorded', async () => {
  const w = await world();
  try {
    const tx = envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.server, 1]);
    const res = await w.ledger.sendTransaction(tx);
    assert.equal(res.status, 'sealed');
    assert.equal(res.id, transactionId(tx));
    assert.deepEqual(res.events.map((e) => e.type), ['A.0ae53cb6e3f42a79.FlowToken.TokensWithdrawn', 'A.0ae53cb6e3f42a79.FlowToken.TokensDeposited']);
    assert.equal((await w.ledger.getAccount(w.alice)).balance, '90.00000000');
    assert.equal((await w.ledger.getAccount(w.bob)).balance, '15.00000000');
    assert.equal((await w.ledger.getAccount(w.alice)).keys[0]!.sequenceNumber, 1);
    const rec = await w.ledger.getTransaction(res.id);
    assert.deepEqual(rec.transaction, tx);
    assert.equal(rec.blockId, await w.ledger.latestBlockId());
    // Replaying the same signed transaction is refused.
    await refused(w, tx, 'duplicate_transaction');
  } finally {
    await done(w);
  }
});

test('any two of the three keys suffice (device+recovery, server+recovery)', async () => {
  const w = await world();
  try {
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w, '1.00000000')), [w.device, 0], [w.recovery, 2]));
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w, '2.00000000'), 1), [w.server, 1], [w.recovery, 2]));
    assert.equal((await w.ledger.getAccount(w.alice)).balance, '97.00000000');
  } finally {
    await done(w);
  }
});

test('no single key can move funds, and one key used twice counts once', async () => {
  const w = await world();
  try {
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0]), 'insufficient_weight');
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w), 1), [w.server, 1]), 'insufficient_weight');
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w), 2), [w.recovery, 2]), 'insufficient_weight');
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.device, 0]), 'insufficient_weight');
    // A valid signature by key 0 presented as key 1 does not verify.
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.device, 1]), 'invalid_signature');
  } finally {
    await done(w);
  }
});

test('a revoked key cannot sign; add-key appends the next index', async () => {
  const w = await world();
  try {
    const r = await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, { kind: 'revoke-key', keyIndex: 2 }), [w.device, 0], [w.server, 1]));
    assert.deepEqual(r.events, [{ type: 'flow.AccountKeyRemoved', values: { address: w.alice, keyIndex: '2' } }]);
    assert.equal((await w.ledger.getAccount(w.alice)).keys[2]!.revoked, true);
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.recovery, 2]), 'revoked_key');
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w), 2), [w.device, 0], [w.server, 1]), 'revoked_key');

    const tablet = testKey(2, 1, 500);
    const add = await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, { kind: 'add-key', key: tablet.account }), [w.device, 0], [w.server, 1]));
    assert.equal(add.events[0]!.values.keyIndex, '3');
    const keys = (await w.ledger.getAccount(w.alice)).keys;
    assert.equal(keys.length, 4);
    assert.deepEqual({ ...keys[3]! }, { index: 3, ...tablet.account, sequenceNumber: 0, revoked: false });
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w), 3), [tablet, 3], [w.server, 1]));
    // Revoking a key that does not exist fails and changes nothing.
    await refused(w, envelopeBy(w, await aliceTx(w, { kind: 'revoke-key', keyIndex: 9 }), [w.device, 0], [w.server, 1]), 'unknown_key');
  } finally {
    await done(w);
  }
});

test('wrong sequence number refused', async () => {
  const w = await world();
  try {
    const tx = await aliceTx(w, pay(w));
    const stale = { ...tx, proposalKey: { ...tx.proposalKey, sequenceNumber: 1 } };
    await refused(w, envelopeBy(w, stale, [w.device, 0], [w.server, 1]), 'bad_sequence_number');
  } finally {
    await done(w);
  }
});

test('separate payer: authorizer keys sign the payload, the payer signs the envelope', async () => {
  const w = await world();
  try {
    const acct = await w.ledger.getAccount(w.alice);
    const unsigned = templateTransaction({
      network: w.ledger.network,
      call: pay(w, '3.00000000'),
      referenceBlockId: await w.ledger.latestBlockId(),
      proposalKey: { address: w.alice, keyIndex: 0, sequenceNumber: acct.keys[0]!.sequenceNumber },
      payer: w.bob,
      authorizer: w.alice,
    });
    const payload = signTransactionPayload(signTransactionPayload(unsigned, signerFor(w.device, w.alice, 0)), signerFor(w.server, w.alice, 1));
    // Missing payer envelope signature.
    await refused(w, payload, 'insufficient_weight');
    // Payer "signature" over the payload message instead of the envelope.
    const wrong = signFlowMessage(payloadMessage(payload), w.bobKey.privateKey, 2, 1);
    await refused(w, { ...payload, envelopeSignatures: [{ address: w.bob, keyIndex: 0, signature: bytesToHex(wrong) }] }, 'invalid_signature');
    // Envelope signed by someone who is not the payer.
    await refused(w, signTransactionEnvelope(payload, signerFor(w.recovery, w.alice, 2)), 'bad_signature');
    // Payer signing the payload instead of the envelope.
    await refused(w, signTransactionPayload(payload, signerFor(w.bobKey, w.bob, 0)), 'bad_signature');
    // Only one authorizer key in the payload, payer fine: authorizer weight too low.
    const half = signTransactionEnvelope(signTransactionPayload(unsigned, signerFor(w.device, w.alice, 0)), signerFor(w.bobKey, w.bob, 0));
    await refused(w, half, 'insufficient_weight');
    const ok = await w.ledger.sendTransaction(signTransactionEnvelope(payload, signerFor(w.bobKey, w.bob, 0)));
    assert.equal(ok.status, 'sealed');
    assert.equal((await w.ledger.getAccount(w.alice)).balance, '97.00000000');
    assert.equal((await w.ledger.getAccount(w.bob)).balance, '8.00000000');
  } finally {
    await done(w);
  }
});

test('tampering after signing is refused: amount, recipient, gas limit', async () => {
  const w = await world();
  try {
    const signed = envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.server, 1]);
    await refused(w, { ...signed, arguments: templateArguments(pay(w, '99.00000000')) }, 'invalid_signature');
    const carol = await w.ledger.createAccount([testKey(2, 1, 1000).account], '0');
    const re = await w.ledger.getAccount(w.alice);
    assert.equal(re.balance, '100.00000000');
    await refused(w, { ...signed, arguments: [signed.arguments[0]!, cadenceArg.address(carol)] }, 'invalid_signature');
    await refused(w, { ...signed, gasLimit: signed.gasLimit + 1 }, 'invalid_signature');
  } finally {
    await done(w);
  }
});

test('unknown script refused with a clear error, even when properly signed', async () => {
  const w = await world();
  try {
    const tx = await aliceTx(w, pay(w));
    const other = { ...tx, script: tx.script.replace('withdraw(amount: amount)', 'withdraw(amount: amount * 2.0)') };
    await assert.rejects(w.ledger.sendTransaction(envelopeBy(w, other, [w.device, 0], [w.server, 1])), (e) => {
      assert.ok(isLatchError(e, 'unknown_script'));
      assert.match(e.message, /only Latch's transfer, add-key and revoke-key templates/);
      return true;
    });
    // The testnet template is not the embedded ledger's either (different contract addresses).
    const testnet = { ...tx, script: templateFor('testnet', 'transfer').script };
    await refused(w, envelopeBy(w, testnet, [w.device, 0], [w.server, 1]), 'unknown_script');
    // Right script, wrong arguments.
    await refused(w, envelopeBy(w, { ...tx, arguments: [tx.arguments[0]!] }, [w.device, 0], [w.server, 1]), 'bad_argument');
    await refused(w, envelopeBy(w, { ...tx, arguments: ['{"type":"UFix64","value":"10.0"}', tx.arguments[1]!] }, [w.device, 0], [w.server, 1]), 'bad_argument');
  } finally {
    await done(w);
  }
});

test('insufficient balance and unknown recipient refused', async () => {
  const w = await world();
  try {
    await refused(w, envelopeBy(w, await aliceTx(w, pay(w, '100.00000001')), [w.device, 0], [w.server, 1]), 'insufficient_balance');
    await refused(
      w,
      envelopeBy(w, await aliceTx(w, { kind: 'transfer', amount: '1.00000000', to: '0x00000000000000aa' }), [w.device, 0], [w.server, 1]),
      'unknown_account',
    );
    // The whole balance is fine.
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w, '100.00000000')), [w.device, 0], [w.server, 1]));
    assert.equal((await w.ledger.getAccount(w.alice)).balance, '0.00000000');
  } finally {
    await done(w);
  }
});

test('reference block must be one this ledger issued, at most 600 blocks old', async () => {
  const w = await world();
  try {
    const tx = await aliceTx(w, pay(w));
    await refused(w, envelopeBy(w, { ...tx, referenceBlockId: 'ab'.repeat(32) }, [w.device, 0], [w.server, 1]), 'unknown_reference_block');
    // Flow expires a transaction 600 blocks after its reference block; every sealed
    // transaction and every new account makes a block here.
    const signed = envelopeBy(w, tx, [w.device, 0], [w.server, 1]);
    const filler = testKey(2, 1, 1000).account;
    for (let i = 0; i < 600; i++) await w.ledger.createAccount([filler], '0');
    // 600 blocks behind is still in time: the refusal is for the stale sequence number, not expiry.
    const stale = envelopeBy(w, { ...tx, proposalKey: { ...tx.proposalKey, sequenceNumber: 5 } }, [w.device, 0], [w.server, 1]);
    await refused(w, stale, 'bad_sequence_number');
    await w.ledger.createAccount([filler], '0');
    await refused(w, signed, 'expired_reference_block');
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.server, 1]));
  } finally {
    await done(w);
  }
});

test('state survives close and reopen; the ledger keeps working', async () => {
  const w = await world();
  try {
    const first = await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.server, 1]));
    const before = await snapshot(w);
    await w.ledger.close();
    w.ledger = await embeddedLedgerFor(w.dir);
    assert.equal(await snapshot(w), before);
    assert.equal((await w.ledger.getTransaction(first.id)).id, first.id);
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, pay(w)), [w.device, 0], [w.recovery, 2]));
    assert.equal((await w.ledger.getAccount(w.alice)).balance, '80.00000000');
    assert.equal((await w.ledger.getAccount(w.alice)).keys[0]!.sequenceNumber, 2);
    const third = await w.ledger.createAccount([testKey(2, 1, 1000).account], '1');
    assert.notEqual(third, w.alice);
    assert.notEqual(third, w.bob);
    await assert.rejects(w.ledger.getTransaction('00'.repeat(32)), (e) => isLatchError(e, 'unknown_transaction'));
  } finally {
    await done(w);
  }
});

test('one public key never holds two live indexes: add-key of a live key and a duplicate at creation are refused (issue 15)', async () => {
  const w = await world();
  try {
    // The attack of issue 15 on the ledger alone: revoke the recovery key, then add the device's
    // own key again; device + server sign both, as the ledger requires.
    await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, { kind: 'revoke-key', keyIndex: 2 }), [w.device, 0], [w.server, 1]));
    const again = { kind: 'add-key' as const, key: { ...w.device.account, hashAlgo: w.device.account.hashAlgo } };
    await refused(w, envelopeBy(w, await aliceTx(w, again), [w.device, 0], [w.server, 1]), 'duplicate_key');
    // The same point under another hash algorithm is still the same key.
    await refused(w, envelopeBy(w, await aliceTx(w, { kind: 'add-key', key: { ...w.device.account, hashAlgo: 3 } }), [w.device, 0], [w.server, 1]), 'duplicate_key');
    // A key that is revoked holds no weight; adding it back is a separate decision (the custody
    // service's), not a duplicate.
    const back = await w.ledger.sendTransaction(envelopeBy(w, await aliceTx(w, { kind: 'add-key', key: w.recovery.account }), [w.device, 0], [w.server, 1]));
    assert.equal(back.events[0]!.values.keyIndex, '3');
    await assert.rejects(w.ledger.createAccount([w.device.account, w.server.account, { ...w.device.account }], '1'), (e) => isLatchError(e, 'duplicate_key') && /key 0/.test(e.message));
  } finally {
    await done(w);
  }
});
