/**
 * Account linking on the ledger (issue 13): the Hybrid Custody templates (real scripts, real
 * import addresses per network), their encoding checked against @onflow/sdk, and the embedded
 * ledger's rules for link / redeem / child-transfer / unlink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTransactionEnvelope, encodeTransactionPayload } from '@onflow/sdk';
import { EmbeddedLedger } from '../src/ledger/embedded-ledger.js';
import { parseTemplateCall, templateFor, templateTransaction, type FlowNetwork, type TemplateCall } from '../src/ledger/flow/cadence-templates.js';
import { signTransactionEnvelope } from '../src/ledger/flow/flow-signer.js';
import { envelopeMessage, payloadMessage, type FlowTransaction } from '../src/ledger/flow/flow-transaction.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { isLatchError } from '../src/util/latch-error.js';
import { signerFor, testKey, type TestKey } from './helpers/flow-keys.js';

const NETS: FlowNetwork[] = ['emulator', 'testnet', 'mainnet'];
const CALLS: TemplateCall[] = [
  { kind: 'link', parent: '0x0000000000000002' },
  { kind: 'redeem', child: '0x0000000000000001' },
  { kind: 'child-transfer', amount: '1.50000000', to: '0x0000000000000003', child: '0x0000000000000001' },
  { kind: 'unlink', parent: '0x0000000000000002' },
];

test('Hybrid Custody templates: the standard scripts with each network\'s contract addresses', () => {
  const hc = { emulator: '0xf8d6e0586b0a20c7', testnet: '0x294e44e1ec6993c6', mainnet: '0xd8a7e05a7ac670c0' };
  for (const n of NETS) {
    const link = templateFor(n, 'link').script;
    assert.ok(link.startsWith('#allowAccountLinking\n'), 'the publish transaction links an account capability');
    assert.match(link, /owned\.publishToParent\(parentAddress: parent, factory: factory, filter: filter\)/);
    // Cadence 1.0 HybridCustody: `access(Owner) fun publishToParent(parentAddress: Address, factory:
    // Capability<&CapabilityFactory.Manager>, filter: ...)`, so the factory capability is taken as
    // that type (onflow/hybrid-custody setup_owned_account_and_publish_to_parent.cdc; a
    // `&{CapabilityFactory.Getter}` capability does not type-check against it).
    assert.ok(link.includes('let factory = getAccount(factoryAddress).capabilities.get<&CapabilityFactory.Manager>(CapabilityFactory.PublicPath)\n'), link);
    assert.match(link, /acct\.capabilities\.account\.issue<auth\(Storage, Contracts, Keys, Inbox, Capabilities\) &Account>\(\)/);
    assert.match(templateFor(n, 'redeem').script, /manager\.addAccount\(cap: cap\)/);
    assert.match(templateFor(n, 'child-transfer').script, /m\.borrowAccount\(addr: child\)/);
    assert.match(templateFor(n, 'unlink').script, /owned\.removeParent\(parent: parent\)/);
    for (const kind of ['link', 'redeem', 'child-transfer', 'unlink'] as const) {
      assert.match(templateFor(n, kind).script, new RegExp(`import HybridCustody from ${hc[n]}\\n`), `${n} ${kind}`);
    }
  }
  // The hosted NFT + FT factory and AllowAllFilter are the link's arguments on each network.
  const args = (n: FlowNetwork) => templateTransaction({ network: n, call: CALLS[0]!, referenceBlockId: '00'.repeat(32), proposalKey: { address: '0x0000000000000001', keyIndex: 0, sequenceNumber: 0 }, payer: '0x0000000000000001', authorizer: '0x0000000000000001' }).arguments;
  assert.deepEqual(args('testnet').slice(1, 3), ['{"type":"Address","value":"0x1b7fa5972fcb8af5"}', '{"type":"Address","value":"0xe2664be06bb0fe62"}']);
  assert.deepEqual(args('mainnet').slice(1, 3), ['{"type":"Address","value":"0x071d382668250606"}', '{"type":"Address","value":"0x78e93a79b05d0d7d"}']);
  assert.deepEqual(args('testnet').slice(3), Array(3).fill('{"type":"Optional","value":null}'));
  // Another filter (one that would let the parent take less, or the card say too much) is refused.
  const other = [...args('testnet')];
  other[2] = '{"type":"Address","value":"0x0000000000000009"}';
  assert.throws(() => parseTemplateCall('testnet', templateFor('testnet', 'link').script, other), (e) => isLatchError(e, 'bad_argument'));
});

test('Hybrid Custody transactions: payload and envelope encode exactly as @onflow/sdk does', () => {
  for (const n of NETS) {
    for (const call of CALLS) {
      const tx = templateTransaction({ network: n, call, referenceBlockId: 'ab'.repeat(32), proposalKey: { address: '0x0000000000000001', keyIndex: 2, sequenceNumber: 7 }, payer: '0x0000000000000001', authorizer: '0x0000000000000001' });
      assert.deepEqual(parseTemplateCall(n, tx.script, tx.arguments), call);
      const voucher = {
        cadence: tx.script,
        arguments: tx.arguments.map((a) => JSON.parse(a) as unknown),
        refBlock: tx.referenceBlockId,
        computeLimit: tx.gasLimit,
        proposalKey: { address: tx.proposalKey.address, keyId: tx.proposalKey.keyIndex, sequenceNum: tx.proposalKey.sequenceNumber },
        payer: tx.payer,
        authorizers: tx.authorizers,
        payloadSigs: [],
        envelopeSigs: [],
      };
      // @onflow/sdk returns the domain-tagged message as hex.
      assert.equal(bytesToHex(payloadMessage(tx)), (encodeTransactionPayload as (v: unknown) => string)(structuredClone(voucher)), `${n} ${call.kind} payload`);
      assert.equal(bytesToHex(envelopeMessage(tx)), (encodeTransactionEnvelope as (v: unknown) => string)(structuredClone(voucher)), `${n} ${call.kind} envelope`);
    }
  }
});

interface World { ledger: EmbeddedLedger; dir: string; device: TestKey; server: TestKey; child: string; parentKey: TestKey; parent: string; weakKey: TestKey; weak: string; other: string }

async function world(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-hc-'));
  const ledger = EmbeddedLedger.open(dir);
  const device = testKey(2, 1, 500);
  const server = testKey(2, 1, 500);
  const parentKey = testKey(3, 3, 1000); // secp256k1: any Flow account's key
  const weakKey = testKey(2, 3, 500);
  const child = await ledger.createAccount([device.account, server.account], '100.0');
  const parent = await ledger.createAccount([parentKey.account], '1.0');
  const weak = await ledger.createAccount([weakKey.account], '1.0');
  const other = await ledger.createAccount([testKey(2, 3, 1000).account], '0.0');
  return { ledger, dir, device, server, child, parentKey, parent, weakKey, weak, other };
}

async function send(w: World, address: string, call: TemplateCall, keys: TestKey[]): Promise<unknown> {
  const acct = await w.ledger.getAccount(address);
  let tx: FlowTransaction = templateTransaction({ network: 'emulator', call, referenceBlockId: await w.ledger.latestBlockId(), proposalKey: { address, keyIndex: 0, sequenceNumber: acct.keys[0]!.sequenceNumber }, payer: address, authorizer: address });
  keys.forEach((k, i) => (tx = signTransactionEnvelope(tx, signerFor(k, address, i))));
  return w.ledger.sendTransaction(tx);
}

const refused = (code: string) => (e: unknown) => isLatchError(e, code);

test('embedded ledger: publish needs the child\'s 1000, redeem the parent\'s own 1000; only a redeemed parent moves funds', async () => {
  const w = await world();
  try {
    // The device alone (500) cannot publish.
    await assert.rejects(send(w, w.child, { kind: 'link', parent: w.parent }, [w.device]), refused('insufficient_weight'));
    await assert.rejects(send(w, w.parent, { kind: 'redeem', child: w.child }, [w.parentKey]), refused('no_published_capability'));
    await assert.rejects(send(w, w.child, { kind: 'link', parent: w.child }, [w.device, w.server]), refused('self_link'));
    await assert.rejects(send(w, w.child, { kind: 'link', parent: '0x00000000000000aa' }, [w.device, w.server]), refused('unknown_parent'));
    await send(w, w.child, { kind: 'link', parent: w.parent }, [w.device, w.server]);
    await send(w, w.child, { kind: 'link', parent: w.weak }, [w.device, w.server]);
    assert.deepEqual(await w.ledger.getLinks(w.child), { parents: [{ address: w.parent, state: 'published' }, { address: w.weak, state: 'published' }].sort((a, b) => a.address.localeCompare(b.address)), children: [] });
    // Published but not redeemed: the parent cannot act yet.
    await assert.rejects(send(w, w.parent, { kind: 'child-transfer', amount: '1.00000000', to: w.other, child: w.child }, [w.parentKey]), refused('not_a_parent'));
    // A parent whose own keys weigh 500 cannot redeem.
    await assert.rejects(send(w, w.weak, { kind: 'redeem', child: w.child }, [w.weakKey]), refused('insufficient_weight'));
    await send(w, w.parent, { kind: 'redeem', child: w.child }, [w.parentKey]);
    assert.deepEqual((await w.ledger.getLinks(w.parent)).children, [w.child]);
    await assert.rejects(send(w, w.parent, { kind: 'redeem', child: w.child }, [w.parentKey]), refused('no_published_capability'));
    // Another account (not a parent) cannot move the child's funds.
    await assert.rejects(send(w, w.weak, { kind: 'child-transfer', amount: '1.00000000', to: w.other, child: w.child }, [w.weakKey]), refused('insufficient_weight'));
    await send(w, w.parent, { kind: 'child-transfer', amount: '40.00000000', to: w.other, child: w.child }, [w.parentKey]);
    assert.equal((await w.ledger.getAccount(w.child)).balance, '60.00000000');
    assert.equal((await w.ledger.getAccount(w.other)).balance, '40.00000000');
    // Unlinked: refused at once; unlinking again is an error, and nothing changed.
    await assert.rejects(send(w, w.child, { kind: 'unlink', parent: w.parent }, [w.device]), refused('insufficient_weight'));
    await send(w, w.child, { kind: 'unlink', parent: w.parent }, [w.device, w.server]);
    await assert.rejects(send(w, w.parent, { kind: 'child-transfer', amount: '1.00000000', to: w.other, child: w.child }, [w.parentKey]), refused('not_a_parent'));
    const before = await w.ledger.getAccount(w.child);
    await assert.rejects(send(w, w.child, { kind: 'unlink', parent: w.parent }, [w.device, w.server]), refused('not_linked'));
    assert.deepEqual(await w.ledger.getAccount(w.child), before);
    assert.equal((await w.ledger.getAccount(w.child)).balance, '60.00000000');
  } finally {
    await w.ledger.close();
    rmSync(w.dir, { recursive: true, force: true });
  }
});
