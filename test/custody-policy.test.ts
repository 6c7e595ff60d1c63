/**
 * The co-signing policy against a real `latch server` child process, through the SDK:
 * no single key moves funds, revoked keys can't sign, replays, foreign tokens and tampered
 * transactions are refused, limits hold, bad JSON gets a clear 400 and the server keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { awayFromUtcMidnight, sdkLogin } from './helpers/custody-env.js';
import { CustodyClient, type CustodySigner } from '../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey } from '../src/authenticator/custody-device-key.js';
import { newRecoveryKey } from '../src/authenticator/custody-recovery-kit.js';
import { signFlowMessage } from '../src/ledger/flow/flow-signer.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { envelopeMessage, normalizeTransaction, type FlowTransaction } from '../src/ledger/flow/flow-transaction.js';
import { cadenceArg, parseAmount } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';
import { custodyStoreOf } from './helpers/custody-pg.js';

let server: LatchServer;
let ada: { client: CustodyClient; signer: CustodySigner; address: string; recovery: CustodySigner };
let bob: { client: CustodyClient; signer: CustodySigner; address: string };

const code = (c: string) => (e: unknown) => isLatchError(e) && e.code === c;

before(async () => {
  server = await startLatchServer({ args: ['--recovery-delay', '3600', '--tx-limit', '50', '--daily-limit', '60'] });
  const a = await sdkLogin(server, 'ada@example.com');
  const rk = newRecoveryKey();
  const recovery: CustodySigner = { publicKey: rk.publicKey, sign: async (m) => signFlowMessage(m, rk.secret, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256) };
  ada = { ...a, recovery, address: (await a.client.createAccount({ deviceName: 'phone', recoveryPublicKey: rk.publicKey })).address };
  const b = await sdkLogin(server, 'bob@example.com');
  bob = { ...b, address: (await b.client.createAccount({ deviceName: 'bob phone' })).address };
});
after(() => server.stop());

const dev = () => ({ keyIndex: 0, signer: ada.signer });
const rec = () => ({ keyIndex: 2, signer: ada.recovery });
const transferCall = (amount: string) => ({ kind: 'transfer' as const, amount: parseAmount(amount), to: bob.address });

test('no single key can move funds: device alone, recovery alone, server alone', async () => {
  await awayFromUtcMidnight(); // the daily-limit test below counts what these tests spend
  const before = (await ada.client.getAccount(ada.address)).balance;
  const deviceOnly = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), [dev()]);
  await assert.rejects(ada.client.submitTransaction(ada.address, deviceOnly), code('insufficient_weight'));
  const recoveryOnly = await ada.client.buildSigned(ada.address, transferCall('1.0'), rec(), [rec()]);
  await assert.rejects(ada.client.submitTransaction(ada.address, recoveryOnly), code('insufficient_weight'));
  // The server signs nothing that no user key signed.
  const unsigned = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), []);
  await assert.rejects(ada.client.cosignTransaction(ada.address, unsigned), code('missing_signature'));
  // A key that is not the account's (an attacker's) does not count.
  const stranger = deviceSigner(newDeviceKey());
  const forged = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), [{ keyIndex: 0, signer: stranger }]);
  await assert.rejects(ada.client.cosignTransaction(ada.address, forged), code('invalid_signature'));
  assert.equal((await ada.client.getAccount(ada.address)).balance, before);
  // Two of three works: device + recovery without the server.
  const both = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), [dev(), rec()]);
  assert.equal((await ada.client.submitTransaction(ada.address, both)).status, 'sealed');
});

test('a replayed co-sign request is refused', async () => {
  const tx = await ada.client.buildSigned(ada.address, transferCall('2.0'), dev(), [dev()]);
  await ada.client.cosignTransaction(ada.address, tx);
  await assert.rejects(ada.client.cosignTransaction(ada.address, tx), code('replay'));
});

test('a token for another account is refused', async () => {
  const tx = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), [dev()]);
  await assert.rejects(bob.client.cosignTransaction(ada.address, tx), code('wrong_account'));
  await assert.rejects(bob.client.getAccount(ada.address), code('wrong_account'));
  const anon = new CustodyClient({ server: server.url });
  await assert.rejects(anon.cosignTransaction(ada.address, tx), code('unauthorized'));
  const fake = new CustodyClient({ server: server.url, accessToken: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
  await assert.rejects(fake.cosignTransaction(ada.address, tx), code('unauthorized'));
});

test('tampered transactions are refused', async () => {
  const tx = await ada.client.buildSigned(ada.address, transferCall('1.0'), dev(), [dev()]);
  const tampered: FlowTransaction[] = [
    { ...tx, arguments: [cadenceArg.ufix64('40.00000000'), tx.arguments[1]!] },
    { ...tx, gasLimit: tx.gasLimit + 1 },
    { ...tx, arguments: [tx.arguments[0]!, cadenceArg.address(ada.address)] },
  ];
  for (const t of tampered) await assert.rejects(ada.client.cosignTransaction(ada.address, normalizeTransaction(t)), code('invalid_signature'));
  // A script that is not a template is refused even when properly signed.
  const other = normalizeTransaction({ ...tx, script: 'transaction { execute { log("hi") } }', arguments: [], envelopeSignatures: [] });
  const sig = await ada.signer.sign(envelopeMessage(other));
  await assert.rejects(
    ada.client.cosignTransaction(ada.address, normalizeTransaction({ ...other, envelopeSignatures: [{ address: ada.address, keyIndex: 0, signature: bytesToHex(sig) }] })),
    code('unknown_script'),
  );
});

test('per-transaction and daily limits', async () => {
  await assert.rejects(ada.client.transfer({ address: ada.address, to: bob.address, amount: '51', device: dev() }), code('over_limit'));
  await ada.client.transfer({ address: ada.address, to: bob.address, amount: '50', device: dev() });
  // 2 + 50 co-signed today; 10 more passes the daily limit of 60.
  await assert.rejects(ada.client.transfer({ address: ada.address, to: bob.address, amount: '10', device: dev() }), code('over_limit'));
});

test('a revoked key cannot sign; join requests are only for the owner; recovery waits out the delay and can be cancelled', async () => {
  // Join a second device through the API, approve it, then revoke it.
  const tablet = await sdkLogin(server, 'ada@example.com');
  await assert.rejects((await sdkLogin(server, 'eve@example.com')).client.join(ada.address, 'eve'), code('wrong_account'));
  const { join_id } = await tablet.client.join(ada.address, 'tablet');
  const approved = await ada.client.approveJoin({ joinId: join_id, address: ada.address, newDevicePublicKey: tablet.signer.publicKey, device: dev() });
  const st = await tablet.client.joinStatus(join_id);
  assert.equal(st.status, 'approved');
  const tabletKey = { keyIndex: approved.key_index, signer: tablet.signer };
  await tablet.client.transfer({ address: ada.address, to: bob.address, amount: '0.5', device: tabletKey }).catch((e) => assert.ok(code('over_limit')(e)));
  await ada.client.revoke({ address: ada.address, keyIndex: approved.key_index, device: dev() });
  const byRevoked = await ada.client.buildSigned(ada.address, { kind: 'revoke-key', keyIndex: 0 }, dev(), [tabletKey]);
  await assert.rejects(ada.client.cosignTransaction(ada.address, byRevoked), code('revoked_key'));

  // An approval must add exactly the joining key, built by the approver.
  const j2 = await sdkLogin(server, 'ada@example.com');
  const { join_id: id2 } = await j2.client.join(ada.address, 'laptop');
  await assert.rejects(
    ada.client.approveJoin({ joinId: id2, address: ada.address, newDevicePublicKey: deviceSigner(newDeviceKey()).publicKey, device: dev() }),
    code('bad_transaction'),
  );
  await ada.client.denyJoin(id2);
  assert.equal((await j2.client.joinStatus(id2)).status, 'denied');

  // Recovery with a 3600 s delay: pending, then cancelled by the existing device.
  const fresh = await sdkLogin(server, 'ada@example.com');
  const account = await fresh.client.getAccount(ada.address);
  const r = await fresh.client.recover({ address: ada.address, recovery: rec(), newDevicePublicKey: fresh.signer.publicKey, deviceName: 'new', account });
  assert.equal(r.status, 'pending');
  assert.ok(r.ready_at > Date.now() / 1000 + 3000);
  await assert.rejects(fresh.client.completeRecovery({ recoveryId: r.recovery_id, address: ada.address, recovery: rec(), newDevicePublicKey: fresh.signer.publicKey, account }), code('recovery_pending'));
  await ada.client.cancelRecovery(r.recovery_id);
  await assert.rejects(fresh.client.completeRecovery({ recoveryId: r.recovery_id, address: ada.address, recovery: rec(), newDevicePublicKey: fresh.signer.publicKey, account }), code('recovery_cancelled'));
});

test('bad JSON bodies get a clear 400 and the server keeps serving', async () => {
  const url = `${server.url}/custody/v1/login/start`;
  const post = (body: string, type = 'application/json') => fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
  const cases: [string, string, number, string][] = [
    ['{bad json', 'application/json', 400, 'bad_json'],
    ['[1,2]', 'application/json', 400, 'bad_json'],
    ['null', 'application/json', 400, 'bad_json'],
    ['{"email":"a@b.cd","x":1}', 'application/json', 400, 'unknown_field'],
    ['{}', 'application/json', 400, 'missing_field'],
    ['{"email":"a@b.cd"}', 'text/plain', 415, 'bad_content_type'],
    ['{"email":"not an email"}', 'application/json', 400, 'bad_email'],
    ['x'.repeat(70_000), 'application/json', 413, 'body_too_large'],
  ];
  for (const [body, type, status, errCode] of cases) {
    const res = await post(body, type).catch(() => undefined);
    if (res === undefined) continue; // the server may close a connection after refusing an oversized body
    assert.equal(res.status, status, body.slice(0, 30));
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, errCode);
  }
  const wrongMethod = await fetch(url);
  assert.equal(wrongMethod.status, 405);
  const ok = await post('{"email":"still@serving.io"}');
  assert.equal(ok.status, 200);
});

test('self-custody: the server key is revoked, co-signing stops, two devices still sign', async () => {
  const tablet = await sdkLogin(server, 'ada@example.com');
  const { join_id } = await tablet.client.join(ada.address, 'second phone');
  const { key_index } = await ada.client.approveJoin({ joinId: join_id, address: ada.address, newDevicePublicKey: tablet.signer.publicKey, device: dev() });
  await tablet.client.joinStatus(join_id);
  await ada.client.selfCustody({ address: ada.address, device: dev() });
  await assert.rejects(ada.client.transfer({ address: ada.address, to: bob.address, amount: '0.1', device: dev() }), code('server_key_revoked'));
  // Limits were reached today; raise nothing: a revoke-key carries no amount.
  const tx = await ada.client.buildSigned(ada.address, { kind: 'revoke-key', keyIndex: 2 }, dev(), [dev()]);
  const { request_id } = await ada.client.requestSignature(ada.address, tx);
  await assert.rejects(bob.client.approveSignRequest({ requestId: request_id, transaction: (await import('../src/ledger/flow/flow-rest-shape.js')).toRestTransaction(tx), device: { keyIndex: 0, signer: bob.signer } }), code('wrong_account'));
  const rest = (await import('../src/ledger/flow/flow-rest-shape.js')).toRestTransaction(tx);
  const out = await tablet.client.approveSignRequest({ requestId: request_id, transaction: rest, device: { keyIndex: key_index, signer: tablet.signer } });
  assert.equal(out.status, 'sealed');
  assert.equal((await ada.client.signRequestStatus(request_id)).status, 'completed');
  const keys = (await ada.client.getAccount(ada.address)).keys;
  assert.deepEqual(keys.filter((k) => k.revoked).map((k) => k.role).sort(), ['device', 'recovery', 'server']);
});

test('a co-sign request turned away for its token is audited too', async () => {
  const res = await fetch(`${server.url}/custody/v1/accounts/${ada.address}/cosign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-token' },
    body: JSON.stringify({ transaction: {} }),
  });
  assert.equal(res.status, 401);
  const db = await custodyStoreOf(server.dataDir, { readonly: true });
  const rows = await db.all<{ account: string; detail: string }>("SELECT account, action, decision, detail FROM audit WHERE action = 'cosign' AND decision = 'refused'");
  await db.close();
  assert.ok(rows.some((r) => r.account === ada.address && JSON.parse(r.detail).code === 'unauthorized'), JSON.stringify(rows));
});
