/**
 * Issue 15 §1 and §6 against a real `latch server` child process, through the HTTP API (SDK):
 * one key alone never reaches the 2-of-3 threshold. An account never holds one public key at
 * two live indexes, however the key arrives (co-signed add of a recovery key, recovery, join,
 * raw submission); replacing the recovery key needs a second device told and waits like a
 * recovery (custody-recovery-key-guard.test.ts has the one-device attack); the recovery key does not
 * spend with the server's key; a recovery after self-custody is refused with its reason; pending
 * signature requests hold their amount against the daily limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { joinSecondDevice, recoverySigner, sdkLogin, sdkOwner } from './helpers/custody-env.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import type { TemplateCall } from '../src/ledger/flow/cadence-templates.js';
import { parseAmount } from '../src/ledger/flow/json-cadence.js';
import { CUSTODY_KEY_WEIGHT } from '../src/custody/custody-api.js';
import { isLatchError } from '../src/util/latch-error.js';
import { newCustodyInbox } from '../src/authenticator/custody-inbox.js';
import { sodiumReady } from '../src/protocol/sodium.js';

let server: LatchServer;
let bob: string;

const code = (c: string) => (e: unknown) => isLatchError(e) && e.code === c;

const owner = (email: string) => sdkOwner(server, email);

const addKey = (publicKey: string): TemplateCall => ({ kind: 'add-key', key: { publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT } });
const pay = (amount: string) => ({ kind: 'transfer' as const, amount: parseAmount(amount), to: bob });

before(async () => {
  server = await startLatchServer({ args: ['--recovery-delay', '3600', '--tx-limit', '250', '--daily-limit', '300'] });
  const b = await sdkLogin(server, 'bob@example.com');
  bob = (await b.client.createAccount({ deviceName: 'bob phone' })).address;
});
after(() => server.stop());

test('the attack of issue 15: a stolen device key cannot come back as the recovery key and sign as two indexes', async () => {
  const ada = await owner('ada@example.com');
  const dev = { keyIndex: 0, signer: ada.signer };
  const balance = (await ada.client.getAccount(ada.address)).balance;
  // 1. The thief revokes the recovery key (device + server: allowed).
  await ada.client.revoke({ address: ada.address, keyIndex: 2, device: dev });
  // 2. ... and adds the device's own key again as the "recovery" key: refused.
  await assert.rejects(ada.client.addRecoveryKey({ address: ada.address, recoveryPublicKey: ada.signer.publicKey, device: dev }), code('duplicate_key'));
  const live = (await ada.client.getAccount(ada.address)).keys.filter((k) => !k.revoked);
  assert.deepEqual(live.map((k) => k.index), ['0', '1']);
  // 3. Signing as "both" indexes gets nowhere: there is no index 3, and index 0 alone is 500.
  const twice = await ada.client.buildSigned(ada.address, pay('600'), dev, [dev, { keyIndex: 3, signer: ada.signer }]);
  await assert.rejects(ada.client.submitTransaction(ada.address, twice), (e) => isLatchError(e) && ['unknown_key', 'insufficient_weight'].includes(e.code));
  const killServer = await ada.client.buildSigned(ada.address, { kind: 'revoke-key', keyIndex: 1 }, dev, [dev]);
  await assert.rejects(ada.client.submitTransaction(ada.address, killServer), code('insufficient_weight'));
  assert.equal((await ada.client.getAccount(ada.address)).balance, balance);
});

test('recovery, join and a raw submission cannot add a key the account already holds', async () => {
  const cy = await owner('cy@example.com');
  const dev = { keyIndex: 0, signer: cy.signer };
  const rec = { keyIndex: 2, signer: cy.recovery };
  // The recovery key logs in as a "new device" and recovers itself into a second index.
  const asRecovery = await sdkLogin(server, 'cy@example.com', cy.recovery);
  const account = await asRecovery.client.getAccount(cy.address);
  await assert.rejects(asRecovery.client.recover({ address: cy.address, recovery: rec, newDevicePublicKey: cy.recovery.publicKey, deviceName: 'new', account }), code('duplicate_key'));
  // ... or the live device key is "recovered" a second time.
  const asDevice = await sdkLogin(server, 'cy@example.com', cy.signer);
  await assert.rejects(asDevice.client.recover({ address: cy.address, recovery: rec, newDevicePublicKey: cy.signer.publicKey, deviceName: 'new', account }), code('duplicate_key'));
  // The recovery key asks to join as a device.
  await assert.rejects(asRecovery.client.join(cy.address, 'new'), (e) => isLatchError(e) && ['already_member', 'duplicate_key'].includes(e.code));
  // Two real keys (device + recovery: weight 1000) submit an add-key of the device's own key.
  const raw = await cy.client.buildSigned(cy.address, addKey(cy.signer.publicKey), dev, [dev, rec]);
  await assert.rejects(cy.client.submitTransaction(cy.address, raw), code('duplicate_key'));
  assert.equal((await cy.client.getAccount(cy.address)).keys.length, 3);
});

test('replacing the recovery key with device + server needs a second device told; it waits the recovery delay; the other device cancels it', async () => {
  const dee = await owner('dee@example.com');
  const dev = { keyIndex: 0, signer: dee.signer };
  await dee.client.revoke({ address: dee.address, keyIndex: 2, device: dev });
  const fresh = recoverySigner();
  // One device only: refused, nothing pending.
  await assert.rejects(dee.client.addRecoveryKey({ address: dee.address, recoveryPublicKey: fresh.publicKey, device: dev }), code('recovery_key_needs_second_device'));
  const tablet = await joinSecondDevice(server, dee, 'tablet');
  let changeId = '';
  await assert.rejects(dee.client.addRecoveryKey({ address: dee.address, recoveryPublicKey: fresh.publicKey, device: dev }), (e) => {
    assert.ok(isLatchError(e, 'recovery_key_delayed'), String(e));
    changeId = /--cancel ([A-Za-z0-9_-]{22})/.exec(e.message)![1]!;
    return true;
  });
  // Asking again before the delay is over changes nothing.
  await assert.rejects(dee.client.addRecoveryKey({ address: dee.address, recoveryPublicKey: fresh.publicKey, device: dev }), code('recovery_key_delayed'));
  assert.equal((await dee.client.getAccount(dee.address)).keys.filter((k) => !k.revoked).length, 3);
  await tablet.client.cancelRecovery(changeId);
  await assert.rejects(dee.client.cancelRecovery(changeId), code('recovery_closed'));
});

test('a first recovery key is added at once only when every device was told; a device without an inbox delays it', async () => {
  const sodium = await sodiumReady();
  // Every device has an inbox on the server's own relay: told, so the add goes through.
  const told = await sdkLogin(server, 'gus@example.com');
  const { address } = await told.client.createAccount({ deviceName: 'phone', inbox: newCustodyInbox(sodium, server.url).wire, device: told.signer });
  const added = await told.client.addRecoveryKey({ address, recoveryPublicKey: recoverySigner().publicKey, device: { keyIndex: 0, signer: told.signer } });
  assert.equal(added.status, 'sealed');
  // A device nobody can reach (no inbox registered): delayed like a recovery.
  const unreachable = await sdkLogin(server, 'hal@example.com');
  const hal = (await unreachable.client.createAccount({ deviceName: 'phone' })).address;
  await assert.rejects(unreachable.client.addRecoveryKey({ address: hal, recoveryPublicKey: recoverySigner().publicKey, device: { keyIndex: 0, signer: unreachable.signer } }), code('recovery_key_delayed'));
  assert.equal((await unreachable.client.getAccount(hal)).keys.length, 2);
});

test('the recovery key does not spend with the server key and an account token', async () => {
  const eve = await owner('eve@example.com');
  const rec = { keyIndex: 2, signer: eve.recovery };
  const tx = await eve.client.buildSigned(eve.address, pay('1'), rec, [rec]);
  await assert.rejects(eve.client.cosignTransaction(eve.address, tx), code('bad_signer'));
  // With a second key of the user's own it does (the server only forwards).
  const dev = { keyIndex: 0, signer: eve.signer };
  assert.equal((await eve.client.submitTransaction(eve.address, await eve.client.buildSigned(eve.address, pay('1'), dev, [dev, rec]))).status, 'sealed');
});

test('a recovery after self-custody is refused with the reason; pending signature requests hold their amount', async () => {
  const fay = await owner('fay@example.com');
  const dev = { keyIndex: 0, signer: fay.signer };
  // A second device, so two devices can sign after self-custody.
  const tablet = await sdkLogin(server, 'fay@example.com');
  const { join_id } = await tablet.client.join(fay.address, 'tablet');
  await fay.client.approveJoin({ joinId: join_id, address: fay.address, newDevicePublicKey: tablet.signer.publicKey, device: dev });
  await fay.client.selfCustody({ address: fay.address, device: dev });

  const newPhone = await sdkLogin(server, 'fay@example.com');
  const account = await newPhone.client.getAccount(fay.address);
  await assert.rejects(
    newPhone.client.recover({ address: fay.address, recovery: { keyIndex: 2, signer: fay.recovery }, newDevicePublicKey: newPhone.signer.publicKey, deviceName: 'new', account }),
    (e) => isLatchError(e, 'self_custody') && /server key is revoked/.test(e.message),
  );

  // Daily limit 300: a pending request of 200 holds 200, so a second one of 200 is over.
  const first = await fay.client.buildSigned(fay.address, pay('200'), dev, [dev]);
  const { request_id } = await fay.client.requestSignature(fay.address, first);
  const second = await fay.client.buildSigned(fay.address, pay('200'), { keyIndex: 3, signer: tablet.signer }, [dev]);
  await assert.rejects(fay.client.requestSignature(fay.address, second), (e) => isLatchError(e, 'over_limit') && /pending signature requests/.test(e.message));
  // Denying the first releases what it held.
  await fay.client.denySignRequest(request_id);
  await fay.client.requestSignature(fay.address, second);
});

test('no path through the server adds a key of weight 1000: not a signature request, not /submit', async () => {
  const gil = await owner('gil@example.com');
  const dev = { keyIndex: 0, signer: gil.signer };
  const rec = { keyIndex: 2, signer: gil.recovery };
  const tablet = await sdkLogin(server, 'gil@example.com');
  const { join_id } = await tablet.client.join(gil.address, 'tablet');
  await gil.client.approveJoin({ joinId: join_id, address: gil.address, newDevicePublicKey: tablet.signer.publicKey, device: dev });
  const heavy = (publicKey: string): TemplateCall => ({ kind: 'add-key', key: { publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: 1000 } });

  // One device asks the other to co-sign a key that alone would control the account.
  const asked = await gil.client.buildSigned(gil.address, heavy(recoverySigner().publicKey), dev, [dev]);
  await assert.rejects(gil.client.requestSignature(gil.address, asked), code('bad_key'));
  // Two user keys hand the server such an add-key to forward.
  const raw = await gil.client.buildSigned(gil.address, heavy(recoverySigner().publicKey), dev, [dev, rec]);
  await assert.rejects(gil.client.submitTransaction(gil.address, raw), code('bad_key'));
  const live = (await gil.client.getAccount(gil.address)).keys.filter((k) => !k.revoked);
  assert.ok(live.every((k) => Number(k.weight) < 1000), JSON.stringify(live));
});
