/**
 * Issue 15 §2, the release half of "reserve before sending, release on failure": only a ledger
 * that REFUSED a transaction frees its co-sign record. On Flow a send can end in `seal_timeout`
 * after the network accepted the transaction, which then seals and moves the funds anyway; if that
 * freed the amount, asking again spent past the daily limit. A real `latch server` runs the slow
 * TEST ledger adapter in its seal-timeout mode (LATCH_TEST_LEDGER_SEAL_TIMEOUT=1: every send is
 * applied, then answered with `seal_timeout`), which stands in for a Flow network that cannot run
 * here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { awayFromUtcMidnight, sdkLogin } from './helpers/custody-env.js';
import { parseAmount, ufix64ToUnits } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';

let server: LatchServer;

before(async () => {
  server = await startLatchServer({
    args: ['--tx-limit', '250', '--daily-limit', '300'],
    env: { LATCH_TEST_LEDGER_DELAY_MS: '0', LATCH_TEST_LEDGER_SEAL_TIMEOUT: '1' },
  });
  await server.proc.waitFor(/TEST ONLY: .*then answers seal_timeout/);
});
after(() => server.stop());

test('a co-sign whose outcome is unknown (seal_timeout) keeps counting against the daily limit', async () => {
  await awayFromUtcMidnight();
  const b = await sdkLogin(server, 'bob@example.com');
  const bob = (await b.client.createAccount({ deviceName: 'bob phone' })).address;
  const ada = await sdkLogin(server, 'ada@example.com');
  const { address } = await ada.client.createAccount({ deviceName: 'phone' });
  const device = { keyIndex: 0, signer: ada.signer };
  const start = ufix64ToUnits((await b.client.getAccount(bob)).balance);

  await assert.rejects(ada.client.transfer({ address, to: bob, amount: '200', device }), (e) => isLatchError(e, 'seal_timeout'));
  // The network applied it: 200 of the 300 a day are gone.
  assert.equal(ufix64ToUnits((await b.client.getAccount(bob)).balance) - start, ufix64ToUnits(parseAmount('200')));

  // The user (or a thief with the device) asks again: 400 would be over the limit of 300.
  await assert.rejects(ada.client.transfer({ address, to: bob, amount: '200', device }), (e) => isLatchError(e, 'over_limit'));
  assert.equal(ufix64ToUnits((await b.client.getAccount(bob)).balance) - start, ufix64ToUnits(parseAmount('200')));
});
