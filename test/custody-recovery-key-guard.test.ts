/**
 * Security review of issue 15 §1, against a real `latch server` child process through the HTTP
 * API (SDK): on a one-device account a thief holding the phone's device key and tokens revokes
 * the kit and adds his own recovery key. The replacement is refused
 * (`recovery_key_needs_second_device`), so device + thief key never reach weight 1000; a pending
 * replacement does not go on once the other device that was told is revoked
 * (docs/CUSTODY.md "Replacing the recovery key"). Its own server: the login rate limit is per IP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { joinSecondDevice, recoverySigner, sdkLogin, sdkOwner } from './helpers/custody-env.js';
import { parseAmount } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';
import { newCustodyInbox } from '../src/authenticator/custody-inbox.js';
import { sodiumReady } from '../src/protocol/sodium.js';

let server: LatchServer;
const code = (c: string) => (e: unknown) => isLatchError(e) && e.code === c;
const owner = (email: string) => sdkOwner(server, email);

// A delay long enough never to run out during the test: a refused change must be refused, not late.
before(async () => {
  server = await startLatchServer({ args: ['--recovery-delay', '3600'] });
});
after(() => server.stop());

test('the attack of issue 15 on a one-device account: revoke the kit, add a thief key; the replacement is refused, no key reaches 1000', async () => {
  const sodium = await sodiumReady();
  // The usual setup: one phone (told through its inbox) plus a recovery kit. The thief holds the phone.
  const a = await sdkLogin(server, 'ivy@example.com');
  const kit = recoverySigner();
  const { address } = await a.client.createAccount({ deviceName: 'phone', recoveryPublicKey: kit.publicKey, inbox: newCustodyInbox(sodium, server.url).wire, device: a.signer });
  const dev = { keyIndex: 0, signer: a.signer };
  const balance = (await a.client.getAccount(address)).balance;
  // 1. Revoke the recovery key (device + server: at once).
  await a.client.revoke({ address, keyIndex: 2, device: dev });
  // 2. Add his own key as the new recovery key: the only device told would be the stolen one.
  const thief = recoverySigner();
  const refused = (e: unknown) => isLatchError(e, 'recovery_key_needs_second_device') && /second device/.test(e.message) && /recover/.test(e.message);
  await assert.rejects(a.client.addRecoveryKey({ address, recoveryPublicKey: thief.publicKey, device: dev }), refused);
  // Asking again does not turn into a delayed (and later completed) change.
  await assert.rejects(a.client.addRecoveryKey({ address, recoveryPublicKey: thief.publicKey, device: dev }), refused);
  const keys = (await a.client.getAccount(address)).keys;
  assert.ok(!keys.some((k) => k.public_key === thief.publicKey), 'the thief key is not on the account');
  const live = keys.filter((k) => !k.revoked);
  assert.deepEqual(live.map((k) => k.index), ['0', '1']);
  assert.ok(live.every((k) => Number(k.weight) < 1000), JSON.stringify(live));
  // 3. Device + thief key cannot sign: the thief key is not there.
  const both = await a.client.buildSigned(address, { kind: 'transfer', amount: parseAmount('600'), to: address }, dev, [dev, { keyIndex: 3, signer: thief }]);
  await assert.rejects(a.client.submitTransaction(address, both), (e) => isLatchError(e) && ['unknown_key', 'insufficient_weight'].includes(e.code));
  assert.equal((await a.client.getAccount(address)).balance, balance);
});

test('a pending replacement does not go on once the other device that was told is revoked', async () => {
  const jo = await owner('jo@example.com');
  const dev = { keyIndex: 0, signer: jo.signer };
  await jo.client.revoke({ address: jo.address, keyIndex: 2, device: dev });
  await joinSecondDevice(server, jo, 'tablet');
  const thief = recoverySigner();
  await assert.rejects(jo.client.addRecoveryKey({ address: jo.address, recoveryPublicKey: thief.publicKey, device: dev }), code('recovery_key_delayed'));
  // The same device + server now revokes the tablet that was told: the change cannot go on.
  await jo.client.revoke({ address: jo.address, keyIndex: 3, device: dev });
  await assert.rejects(jo.client.addRecoveryKey({ address: jo.address, recoveryPublicKey: thief.publicKey, device: dev }), code('recovery_key_needs_second_device'));
  assert.ok(!(await jo.client.getAccount(jo.address)).keys.some((k) => k.public_key === thief.publicKey));
});
