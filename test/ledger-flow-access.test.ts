/**
 * FlowAccessLedger against a local node:http server on 127.0.0.1 that STANDS IN for the real
 * Flow Access REST API (which cannot be reached from here). The stand-in answers with the
 * response shapes published in onflow/flow openapi/access.yaml, decodes what we POST with
 * Buffer, and computes transaction ids with @onflow/sdk (an encoder independent of ours).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeTxIdFromVoucher } from '@onflow/sdk';
import { FlowAccessLedger, flowAccessOptions, FLOW_ACCESS_MAINNET_URL, FLOW_ACCESS_TESTNET_URL } from '../src/ledger/flow-access-ledger.js';
import { templateTransaction, templateFor } from '../src/ledger/flow/cadence-templates.js';
import { signTransactionEnvelope } from '../src/ledger/flow/flow-signer.js';
import { isLatchError } from '../src/util/latch-error.js';
import { signerFor, testKey } from './helpers/flow-keys.js';

const ALICE = 'f8d6e0586b0a20c7';
const BLOCK = 'a1'.repeat(32);
const device = testKey(2, 1, 500);
const server = testKey(3, 3, 500);

interface Stand {
  url: string;
  posted: Record<string, unknown>[];
  requests: string[];
  mode: { failWith?: string; wrongId?: boolean; tamperGet?: boolean; pendingPolls: number; reject400?: boolean };
  close(): Promise<void>;
}

function idFromRestBody(b: Record<string, any>): string {
  const hex = (s: string) => Buffer.from(s, 'base64').toString('hex');
  const sig = (s: any) => ({ address: s.address, keyId: Number(s.key_index), sig: hex(s.signature) });
  return encodeTxIdFromVoucher({
    cadence: Buffer.from(b.script, 'base64').toString('utf8'),
    arguments: b.arguments.map((a: string) => JSON.parse(Buffer.from(a, 'base64').toString('utf8'))),
    refBlock: b.reference_block_id,
    computeLimit: Number(b.gas_limit),
    proposalKey: { address: b.proposal_key.address, keyId: Number(b.proposal_key.key_index), sequenceNum: Number(b.proposal_key.sequence_number) },
    payer: b.payer,
    authorizers: b.authorizers,
    payloadSigs: b.payload_signatures.map(sig),
    envelopeSigs: b.envelope_signatures.map(sig),
  } as any);
}

async function standIn(): Promise<Stand> {
  const posted: Record<string, unknown>[] = [];
  const requests: string[] = [];
  const txs = new Map<string, { body: Record<string, unknown>; polls: number }>();
  const mode: Stand['mode'] = { pendingPolls: 1 };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.method === 'GET' && url.pathname === '/v1/blocks' && url.searchParams.get('height') === 'sealed') {
      return send(res, 200, [
        {
          header: { id: BLOCK, parent_id: 'b2'.repeat(32), height: '123456', timestamp: '2026-01-01T00:00:00Z', parent_voter_signature: 'AAAA' },
          _expandable: { payload: '/v1/blocks/' + BLOCK + '/payload', execution_result: '' },
          _links: { _self: '/v1/blocks/' + BLOCK },
          block_status: 'BLOCK_SEALED',
        },
      ]);
    }
    const acct = /^\/v1\/accounts\/([0-9a-f]{16})$/.exec(url.pathname);
    if (req.method === 'GET' && acct) {
      if (acct[1] !== ALICE) return send(res, 404, { code: 404, message: 'account not found' });
      return send(res, 200, {
        address: ALICE,
        balance: '1000050000',
        keys: [
          { index: '0', public_key: device.account.publicKey, signing_algorithm: 'ECDSA_P256', hashing_algorithm: 'SHA2_256', sequence_number: '7', weight: '500', revoked: false },
          { index: '1', public_key: server.account.publicKey, signing_algorithm: 'ECDSASecp256k1', hashing_algorithm: 'SHA3_256', sequence_number: '0', weight: '500', revoked: false },
        ],
        _expandable: { contracts: '/v1/accounts/' + ALICE + '?expand=contracts' },
        _links: { _self: '/v1/accounts/' + ALICE },
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/scripts' && url.searchParams.get('block_height') === 'sealed') {
      // Hybrid Custody read scripts (openapi: the result is a base64 JSON-Cadence value).
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { script: string; arguments: string[] };
      const script = Buffer.from(body.script, 'base64').toString('utf8');
      const arg = JSON.parse(Buffer.from(body.arguments[0]!, 'base64').toString('utf8')) as { type: string; value: string };
      if (!script.includes('import HybridCustody from 0x294e44e1ec6993c6') || arg.type !== 'Address' || arg.value !== '0x' + ALICE) return send(res, 400, { code: 400, message: 'bad script' });
      const addr = (a: string) => ({ type: 'Address', value: a });
      const value = script.includes('getParentStatuses()')
        ? { type: 'Dictionary', value: [{ key: addr('0x00000000000000B2'), value: { type: 'Bool', value: false } }, { key: addr('0x00000000000000a1'), value: { type: 'Bool', value: true } }] }
        : { type: 'Array', value: [addr('0x00000000000000c3')] };
      return send(res, 200, Buffer.from(JSON.stringify(value)).toString('base64'));
    }
    if (req.method === 'POST' && url.pathname === '/v1/transactions') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      posted.push(body);
      if (mode.reject400) return send(res, 400, { code: 400, message: 'invalid signature: key 0 signature does not verify' });
      const id = mode.wrongId ? 'cc'.repeat(32) : idFromRestBody(body);
      txs.set(id, { body, polls: 0 });
      return send(res, 201, { id, ...body, _expandable: { result: `/v1/transaction_results/${id}` }, _links: { _self: `/v1/transactions/${id}` } });
    }
    const t = /^\/v1\/transactions\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && t) {
      const rec = txs.get(t[1]!);
      if (!rec) return send(res, 404, { code: 404, message: 'transaction not found' });
      rec.polls += 1;
      const sealed = rec.polls > mode.pendingPolls;
      const eventPayload = Buffer.from(
        JSON.stringify({ type: 'Event', value: { id: 'A.7e60df042a9c0868.FlowToken.TokensWithdrawn', fields: [{ name: 'amount', value: { type: 'UFix64', value: '1.50000000' } }, { name: 'from', value: { type: 'Optional', value: { type: 'Address', value: '0x' + ALICE } } }] } }),
      ).toString('base64');
      const body = mode.tamperGet ? { ...rec.body, gas_limit: '1' } : rec.body;
      return send(res, 200, {
        id: t[1],
        ...body,
        result: {
          block_id: BLOCK,
          collection_id: 'd4'.repeat(32),
          execution: sealed ? (mode.failWith ? 'Failure' : 'Success') : 'Pending',
          status: sealed ? 'Sealed' : 'Pending',
          status_code: mode.failWith && sealed ? 1 : 0,
          error_message: sealed && mode.failWith ? mode.failWith : '',
          computation_used: '42',
          events: sealed ? [{ type: 'A.7e60df042a9c0868.FlowToken.TokensWithdrawn', transaction_id: t[1], transaction_index: '0', event_index: '0', payload: eventPayload }] : [],
          _links: { _self: `/v1/transaction_results/${t[1]}` },
        },
        _expandable: {},
        _links: { _self: `/v1/transactions/${t[1]}` },
      });
    }
    send(res, 404, { code: 404, message: 'no route' });
  };
  const srv: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, posted, requests, mode, close: () => new Promise((r) => srv.close(() => r())) };
}

function ledgerFor(s: Stand): FlowAccessLedger {
  return new FlowAccessLedger({ baseUrl: s.url, network: 'testnet', pollIntervalMs: 5, sealTimeoutMs: 5000 });
}

async function signedTransfer(l: FlowAccessLedger) {
  const acct = await l.getAccount('0x' + ALICE);
  const tx = templateTransaction({
    network: l.network,
    call: { kind: 'transfer', amount: '1.50000000', to: '0x7e60df042a9c0868' },
    referenceBlockId: await l.latestBlockId(),
    proposalKey: { address: acct.address, keyIndex: 0, sequenceNumber: acct.keys[0]!.sequenceNumber },
    payer: acct.address,
    authorizer: acct.address,
  });
  return signTransactionEnvelope(signTransactionEnvelope(tx, signerFor(device, acct.address, 0)), signerFor(server, acct.address, 1));
}

test('ledger spec: flow-testnet, flow-mainnet, or a plain http(s) URL', () => {
  assert.deepEqual(flowAccessOptions('flow-testnet'), { baseUrl: FLOW_ACCESS_TESTNET_URL, network: 'testnet' });
  assert.deepEqual(flowAccessOptions('flow-mainnet'), { baseUrl: FLOW_ACCESS_MAINNET_URL, network: 'mainnet' });
  assert.deepEqual(flowAccessOptions('http://127.0.0.1:8888/'), { baseUrl: 'http://127.0.0.1:8888', network: 'emulator' });
  for (const bad of ['flow-devnet', 'ftp://x', 'http://u:p@host', 'http://h/?q=1']) {
    assert.throws(() => flowAccessOptions(bad), (e) => isLatchError(e, 'bad_ledger'), bad);
  }
});

test('getAccount and latestBlockId read the published response shapes', async () => {
  const s = await standIn();
  try {
    const l = ledgerFor(s);
    const a = await l.getAccount('0xF8D6E0586B0A20C7');
    assert.equal(a.address, '0x' + ALICE);
    assert.equal(a.balance, '10.00050000');
    assert.deepEqual(a.keys.map((k) => [k.index, k.signAlgo, k.hashAlgo, k.weight, k.sequenceNumber, k.revoked]), [[0, 2, 1, 500, 7, false], [1, 3, 3, 500, 0, false]]);
    assert.equal(await l.latestBlockId(), BLOCK);
    await assert.rejects(l.getAccount('0x0000000000000001'), (e) => isLatchError(e, 'unknown_account'));
    assert.ok(s.requests.includes(`GET /v1/accounts/${ALICE}?expand=keys`));
    assert.ok(s.requests.includes('GET /v1/blocks?height=sealed'));
    await assert.rejects(l.createAccount([device.account], '1'), (e) => isLatchError(e, 'not_supported'));
  } finally {
    await s.close();
  }
});

test('sendTransaction posts the REST body, checks the id, polls until sealed', async () => {
  const s = await standIn();
  try {
    s.mode.pendingPolls = 2;
    const l = ledgerFor(s);
    const tx = await signedTransfer(l);
    const res = await l.sendTransaction(tx);
    assert.equal(res.status, 'sealed');
    const body = s.posted[0]! as Record<string, any>;
    assert.deepEqual(Object.keys(body).sort(), ['arguments', 'authorizers', 'envelope_signatures', 'gas_limit', 'payer', 'payload_signatures', 'proposal_key', 'reference_block_id', 'script'].sort());
    assert.equal(Buffer.from(body.script, 'base64').toString('utf8'), templateFor('testnet', 'transfer').script);
    assert.deepEqual(body.proposal_key, { address: ALICE, key_index: '0', sequence_number: '7' });
    assert.equal(body.envelope_signatures.length, 2);
    assert.equal(Buffer.from(body.envelope_signatures[0].signature, 'base64').length, 64);
    assert.equal(res.id, idFromRestBody(body), 'our id equals @onflow/sdk over what the server received');
    assert.deepEqual(res.events, [{ type: 'A.7e60df042a9c0868.FlowToken.TokensWithdrawn', values: { amount: '1.50000000', from: '{"type":"Address","value":"0xf8d6e0586b0a20c7"}' } }]);
    assert.equal(s.requests.filter((r) => r.startsWith(`GET /v1/transactions/${res.id}`)).length, 3);
    const rec = await l.getTransaction(res.id);
    assert.equal(rec.blockId, BLOCK);
    assert.deepEqual(rec.transaction, tx);
  } finally {
    await s.close();
  }
});

test('failures from the network become LatchErrors', async () => {
  const s = await standIn();
  try {
    const l = ledgerFor(s);
    const tx = await signedTransfer(l);
    s.mode.failWith = '[Error Code: 1101] cadence runtime error: insufficient balance';
    await assert.rejects(l.sendTransaction(tx), (e) => isLatchError(e, 'transaction_failed') && /insufficient balance/.test(e.message));
    s.mode.failWith = undefined;
    s.mode.wrongId = true;
    await assert.rejects(l.sendTransaction(tx), (e) => isLatchError(e, 'access_api_error'));
    s.mode.wrongId = false;
    s.mode.reject400 = true;
    await assert.rejects(l.sendTransaction(tx), (e) => isLatchError(e, 'access_api_error') && /does not verify/.test(e.message));
    s.mode.reject400 = false;
    s.mode.tamperGet = true;
    // Accepted, but what the node says about it cannot be trusted: the outcome is unknown (it may seal).
    await assert.rejects(l.sendTransaction(tx), (e) => isLatchError(e, 'transaction_unconfirmed') && /look it up later/.test(e.message));
    await assert.rejects(l.getTransaction('00'.repeat(32)), (e) => isLatchError(e, 'unknown_transaction'));
  } finally {
    await s.close();
  }
  // Nothing listening any more.
  await assert.rejects(new FlowAccessLedger({ baseUrl: s.url, network: 'testnet' }).latestBlockId(), (e) => isLatchError(e, 'access_api_error'));
});

test('openLedger: embedded by default, Access API otherwise', async () => {
  const { openLedger } = await import('../src/ledger/open-ledger.js');
  const { mkdtempSync, rmSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'latch-open-ledger-'));
  try {
    const e = openLedger(undefined, { dataDir: dir });
    assert.equal(e.kind, 'embedded');
    assert.equal(e.network, 'emulator');
    assert.ok(existsSync(join(dir, 'ledger.sqlite')));
    await e.close();
    const t = openLedger('flow-testnet', { dataDir: dir });
    assert.equal(t.kind, 'flow-access');
    assert.equal(t.network, 'testnet');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Hybrid Custody links are read with scripts at the sealed block; an unknown answer is links_unavailable', async () => {
  const s = await standIn();
  try {
    const l = ledgerFor(s);
    assert.deepEqual(await l.getLinks('0x' + ALICE), {
      parents: [{ address: '0x00000000000000a1', state: 'redeemed' }, { address: '0x00000000000000b2', state: 'published' }],
      children: ['0x00000000000000c3'],
    });
    await assert.rejects(l.getLinks('0x0000000000000009'), (e) => isLatchError(e, 'links_unavailable'));
  } finally {
    await s.close();
  }
});
