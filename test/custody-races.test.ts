/**
 * Issue 15 §2, check-then-act races, against a real `latch server` whose ledger is the slow TEST
 * adapter (LATCH_TEST_LEDGER_DELAY_MS: every send waits like Flow sealing), so requests for one
 * account overlap while a transaction seals. The outcome is asserted, never the timing: whatever
 * the interleaving, the limit holds, a join adds its key once, a transaction is co-signed once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { awayFromUtcMidnight, sdkLogin } from './helpers/custody-env.js';
import type { CustodyClient, CustodySigner } from '../src/sdk/custody-client.js';
import { parseAmount, ufix64ToUnits } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';

let server: LatchServer;
let bob: string;
let bobClient: CustodyClient;

before(async () => {
  server = await startLatchServer({ args: ['--tx-limit', '100', '--daily-limit', '300'], env: { LATCH_TEST_LEDGER_DELAY_MS: '300' } });
  await server.proc.waitFor(/TEST ONLY: LATCH_TEST_LEDGER_DELAY_MS/);
  const b = await sdkLogin(server, 'bob@example.com');
  bob = (await b.client.createAccount({ deviceName: 'bob phone' })).address;
  bobClient = b.client;
});
after(() => server.stop());

interface Device {
  client: CustodyClient;
  signer: CustodySigner;
  keyIndex: number;
}

/** An account with `n` devices (the first created it, the others joined, approved by the first). */
async function accountWithDevices(email: string, n: number): Promise<{ address: string; devices: Device[] }> {
  const first = await sdkLogin(server, email);
  const { address } = await first.client.createAccount({ deviceName: 'phone' });
  const devices: Device[] = [{ ...first, keyIndex: 0 }];
  for (let i = 1; i < n; i++) {
    const d = await sdkLogin(server, email);
    const { join_id } = await d.client.join(address, `device ${i}`);
    const { key_index } = await first.client.approveJoin({ joinId: join_id, address, newDevicePublicKey: d.signer.publicKey, device: { keyIndex: 0, signer: first.signer } });
    await d.client.joinStatus(join_id); // the joined device's tokens
    devices.push({ ...d, keyIndex: key_index });
  }
  return { address, devices };
}

const transfer = (address: string, d: Device, amount: string) => d.client.transfer({ address, to: bob, amount, device: { keyIndex: d.keyIndex, signer: d.signer } });

test('three parallel co-signs cannot go past the daily limit', async () => {
  await awayFromUtcMidnight();
  const { address, devices } = await accountWithDevices('ada@example.com', 3);
  const before = ufix64ToUnits((await bobClient.getAccount(bob)).balance);
  await transfer(address, devices[0]!, '100');
  await transfer(address, devices[0]!, '100');
  // 200 of 300 spent; three devices (three proposal keys) each ask for 100 at once.
  const outcomes = await Promise.allSettled(devices.map((d) => transfer(address, d, '100')));
  const sealed = outcomes.filter((o) => o.status === 'fulfilled');
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  assert.equal(sealed.length, 1, JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'sealed'))));
  for (const r of refused) assert.ok(isLatchError(r.reason, 'over_limit'), String(r.reason));
  const after = ufix64ToUnits((await bobClient.getAccount(bob)).balance);
  assert.equal(after - before, 300n * 100_000_000n);
});

test('two parallel approvals of one join add the key once', async () => {
  const { address, devices } = await accountWithDevices('cy@example.com', 2);
  const joiner = await sdkLogin(server, 'cy@example.com');
  const { join_id } = await joiner.client.join(address, 'laptop');
  const outcomes = await Promise.allSettled(
    devices.map((d) => d.client.approveJoin({ joinId: join_id, address, newDevicePublicKey: joiner.signer.publicKey, device: { keyIndex: d.keyIndex, signer: d.signer } })),
  );
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  // The loser is turned away by the server's own join record, not by the ledger: a real Flow
  // network would have added the key a second time.
  const lost = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
  assert.ok(isLatchError(lost.reason, 'join_closed'), String(lost.reason));
  const keys = (await devices[0]!.client.getAccount(address)).keys.filter((k) => k.public_key === joiner.signer.publicKey);
  assert.equal(keys.length, 1);
  assert.equal((await joiner.client.joinStatus(join_id)).status, 'approved');
});

test('one transaction sent twice at once is co-signed once', async () => {
  const { address, devices } = await accountWithDevices('dee@example.com', 1);
  const d = devices[0]!;
  const tx = await d.client.buildSigned(address, { kind: 'transfer', amount: parseAmount('1'), to: bob }, { keyIndex: 0, signer: d.signer }, [{ keyIndex: 0, signer: d.signer }]);
  const outcomes = await Promise.allSettled([d.client.cosignTransaction(address, tx), d.client.cosignTransaction(address, tx)]);
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  const lost = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
  assert.ok(isLatchError(lost.reason, 'replay'), String(lost.reason));
});
