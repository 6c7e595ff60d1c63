/**
 * `latch device run` answers webauthn_create / webauthn_get (issue 11, PROTOCOL.md §5.9): real
 * `latch server` and `latch device run` processes, the computer's client in this process, and
 * an independent relying party (@simplewebauthn/server) that verifies every answer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as P from '../src/protocol/index.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { AuthenticatorClient } from '../src/computer/authenticator-client.js';
import { loadComputerState, requirePairing } from '../src/computer/computer-state.js';
import { createCredential, getAssertion, type CallerContext } from '../src/browser/webauthn-client.js';
import { domExceptionNameFor } from '../src/protocol/webauthn/webauthn-errors.js';
import { buildClientDataJSON } from '../src/protocol/webauthn/client-data.js';
import { signWebauthnAssertion } from '../src/authenticator/webauthn-request-handler.js';
import { parseSshSignData } from '../src/protocol/ssh/sign-data-guard.js';
import { classifyCustodyMessage } from '../src/authenticator/custody-device-key.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { isLatchError } from '../src/util/latch-error.js';
import { latch, latchRun, newAuthenticator, pairComputer, startLatchServer, PASSPHRASE, type LatchServer, type LatchProcess } from './helpers/latch-process.js';
import { relyingParty } from './helpers/webauthn-rp.js';

let server: LatchServer;
let phone: string;
let device: LatchProcess;
let client: AuthenticatorClient;
let sodium: P.Sodium;
const ctx: CallerContext = { origin: 'https://example.com', crossOrigin: false, browser: 'Chromium' };

async function clientFor(computerHome: string): Promise<AuthenticatorClient> {
  const pairing = requirePairing(loadComputerState(join(computerHome, 'computer.json')));
  return new AuthenticatorClient(sodium, new RelayClient({ url: pairing.relayUrl }), pairing, () => undefined);
}

/** The error code of a rejected ceremony. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isLatchError(e)) return e.code;
    throw e;
  }
  return 'none';
}

before(async () => {
  sodium = await P.sodiumReady();
  server = await startLatchServer();
  phone = await newAuthenticator('phone');
  const computer = await pairComputer(server, phone);
  device = latch(['device', 'run', '--auto-approve'], { home: phone });
  await device.waitFor(/ready: waiting for requests from 1 paired computer/);
  client = await clientFor(computer);
});

after(async () => {
  client?.close();
  device?.kill();
  await server?.stop();
});

test('ES256 discoverable registration, then login with and without allowCredentials, verify at an independent RP; the counter increments', async () => {
  const rp = relyingParty('example.com', 'https://example.com');
  const options = await rp.registrationOptions();
  const reg = await createCredential(client, ctx, options, {});
  const cred = await rp.verifyRegistration(reg);
  assert.equal(reg.response.publicKeyAlgorithm, -7);
  assert.equal(Buffer.from(reg.id, 'base64url').length, 32);
  const withAllow = await getAssertion(client, ctx, await rp.authenticationOptions({ allow: true }));
  assert.equal((await rp.verifyAuthentication(withAllow)).newCounter, 1);
  const discoverable = await getAssertion(client, ctx, await rp.authenticationOptions({ allow: false }));
  const v = await rp.verifyAuthentication(discoverable);
  assert.equal(v.newCounter, 2);
  assert.equal(discoverable.id, cred.id);
  // The user handle is the one the site gave at registration.
  assert.equal(v.userHandle, (options.user as { id: string }).id);
  const list = await latchRun(['device', 'passkey', 'list', '--json'], { home: phone });
  const passkeys = JSON.parse(list.stdout).passkeys as { id: string; rp_id: string; user_name: string; sign_count: number }[];
  assert.ok(passkeys.some((p) => p.id === reg.id && p.rp_id === 'example.com' && p.user_name === 'ada' && p.sign_count === 2), list.stdout);
  assert.ok(!/secret/.test(list.stdout));
});

test('an EdDSA-only site gets an Ed25519 credential that verifies', async () => {
  const rp = relyingParty('eddsa.example', 'https://eddsa.example');
  const c: CallerContext = { ...ctx, origin: 'https://eddsa.example' };
  const reg = await createCredential(client, c, await rp.registrationOptions({ algorithms: [-8] }));
  assert.equal(reg.response.publicKeyAlgorithm, -8);
  await rp.verifyRegistration(reg);
  await rp.verifyAuthentication(await getAssertion(client, c, await rp.authenticationOptions({ allow: true })));
});

test('UV is never claimed without a verification: --auto-approve answers a site that requires it with user_verification_failed, and no passkey is made', async () => {
  const rp = relyingParty('uv.example', 'https://uv.example');
  const c: CallerContext = { ...ctx, origin: 'https://uv.example' };
  const code = await codeOf(createCredential(client, c, await rp.registrationOptions({ userVerification: 'required' })));
  assert.equal(code, 'user_verification_failed');
  assert.equal(domExceptionNameFor(code), 'NotAllowedError');
  const list = await latchRun(['device', 'passkey', 'list', '--json'], { home: phone });
  assert.ok(!(JSON.parse(list.stdout).passkeys as { rp_id: string }[]).some((p) => p.rp_id === 'uv.example'), list.stdout);
  // 'preferred' without a verification is answered, with UV 0.
  const reg = await createCredential(client, c, await rp.registrationOptions());
  assert.equal((Buffer.from(reg.response.authenticatorData!, 'base64url')[32]! & 0x04), 0);
});

test('a repeated registration is InvalidStateError; an unknown site is no_credential at once, without an ack', async () => {
  const rp = relyingParty('repeat.example', 'https://repeat.example');
  const c: CallerContext = { ...ctx, origin: 'https://repeat.example' };
  await rp.verifyRegistration(await createCredential(client, c, await rp.registrationOptions()));
  const code = await codeOf(createCredential(client, c, await rp.registrationOptions({ exclude: true })));
  assert.equal(code, 'credential_excluded');
  assert.equal(domExceptionNameFor(code), 'InvalidStateError');
  let acked = false;
  const none = await codeOf(getAssertion(client, { ...ctx, origin: 'https://nobody.example' }, await relyingParty('nobody.example', 'https://nobody.example').authenticationOptions(), { onAck: () => (acked = true) }));
  assert.equal(none, 'no_credential');
  assert.equal(acked, false);
});

test('the authenticator binds the site itself: a computer that lies about the RP ID, or names a public suffix, is refused', async () => {
  const challenge = new Uint8Array(32).fill(9);
  const body = (origin: string, rpId: string): P.RequestBody => ({
    kind: 'webauthn_create',
    client_data: P.encodeBase64url(buildClientDataJSON({ type: 'webauthn.create', challenge, origin, crossOrigin: false })),
    rp_id: rpId,
    rp_name: 'x',
    user_id: 'AQ',
    user_name: 'ada',
    user_display_name: 'Ada',
    algorithms: [-7],
    exclude: [],
    user_verification: 'preferred',
    browser: 'Chromium',
  });
  // Sent straight to the authenticator, past the computer-side checks a lying computer would skip.
  assert.equal(await codeOf(client.request(body('https://evil.example', 'example.com'), { timeoutSeconds: 20 })), 'rp_id_mismatch');
  assert.equal(await codeOf(client.request(body('https://foo.github.io', 'github.io'), { timeoutSeconds: 20 })), 'rp_id_mismatch');
  assert.equal(await codeOf(client.request(body('http://example.com', 'example.com'), { timeoutSeconds: 20 })), 'bad_origin');
  assert.equal(domExceptionNameFor('rp_id_mismatch'), 'SecurityError');
  // The computer-side client refuses it before sending, with the same code.
  const rp = relyingParty('github.io', 'https://foo.github.io');
  assert.equal(await codeOf(createCredential(client, { ...ctx, origin: 'https://foo.github.io' }, await rp.registrationOptions())), 'rp_id_mismatch');
});

test('cross-protocol: a passkey never signs SSH or Flow data, and SSH/custody keys never sign WebAuthn data', async () => {
  const rp = relyingParty('cross.example', 'https://cross.example');
  const c: CallerContext = { ...ctx, origin: 'https://cross.example' };
  await rp.verifyRegistration(await createCredential(client, c, await rp.registrationOptions()));
  const a = await getAssertion(client, c, await rp.authenticationOptions({ allow: true }));
  const ks = await Keystore.open(sodium, join(phone, 'authenticator', 'keystore.json'), PASSPHRASE);
  const stored = ks.state.webauthnCredentials!.find((x) => x.id === a.id)!;
  const ssh = ks.state.sshKeys[0]!;
  // An SSH request naming the passkey's public key: it is not an SSH key of this authenticator.
  const userauth = P.decodeBase64url('AAAAIDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMgAAAANnaXQAAAAOc3NoLWNvbm5lY3Rpb24AAAAJcHVibGlja2V5AQAAAAtzc2gtZWQyNTUxOQAAADMAAAALc3NoLWVkMjU1MTkAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(await codeOf(client.request({ kind: 'ssh_sign', key: stored.publicKey, data: P.encodeBase64url(userauth), binds: [] }, { timeoutSeconds: 20 })), 'unknown_key');
  // A webauthn_get whose "clientDataJSON" is SSH data is refused before anything is signed.
  assert.equal(await codeOf(client.request({ kind: 'webauthn_get', client_data: P.encodeBase64url(userauth), rp_id: 'cross.example', allow: [], user_verification: 'preferred', browser: 'x' }, { timeoutSeconds: 20 })), 'bad_client_data');
  // The passkey's signer refuses SSH userauth data, a Flow-tagged message, and an assertion for another site.
  const flow = new Uint8Array(64).fill(1);
  const signedForCross = new Uint8Array([...Buffer.from(a.response.authenticatorData, 'base64url'), ...new Uint8Array(32)]);
  for (const data of [userauth, flow]) assert.throws(() => signWebauthnAssertion(stored, data), (e) => isLatchError(e, 'not_webauthn_data'));
  assert.throws(() => signWebauthnAssertion({ ...stored, rpId: 'other.example' }, signedForCross), (e) => isLatchError(e, 'not_webauthn_data'));
  assert.ok(signWebauthnAssertion(stored, signedForCross).length > 0);
  // And the other way: what a passkey signs is neither SSH data nor a custody message.
  assert.throws(() => parseSshSignData(signedForCross), (e) => isLatchError(e, 'not_ssh_data'));
  assert.throws(() => classifyCustodyMessage(signedForCross), (e) => isLatchError(e, 'refused_message'));
  assert.ok(ssh.publicBlob !== stored.publicKey);
});

test('latch device passkey remove: the credential is gone, and the site gets no_credential', async () => {
  const rp = relyingParty('remove.example', 'https://remove.example');
  const c: CallerContext = { ...ctx, origin: 'https://remove.example' };
  const reg = await createCredential(client, c, await rp.registrationOptions());
  // An id is base64url and begins with "-" one time in 64 (this test failed so once in CI): such
  // an id reads as an option, and the way out, as for any command line tool, is "--".
  const dashed = await latchRun(['device', 'passkey', 'remove', '-Xq9'], { home: phone });
  assert.equal(dashed.code, 2, dashed.stderr);
  assert.match(dashed.stderr, /Unknown option '-X'; an argument that begins with "-" goes after "--"/);
  const typo = await latchRun(['device', 'passkey', 'remove', '--jsn', 'x'], { home: phone });
  assert.equal(typo.code, 2, typo.stderr);
  assert.match(typo.stderr, /Unknown option '--jsn'\n/, 'a mistyped long option gets no hint about "--"');
  const afterDashes = await latchRun(['device', 'passkey', 'remove', '--', '-Xq9'], { home: phone });
  assert.notEqual(afterDashes.code, 0);
  assert.match(afterDashes.stderr, /no passkey with id -Xq9/);
  const r = await latchRun(['device', 'passkey', 'remove', '--', reg.id], { home: phone });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Removed the passkey for remove\.example \(ada\)/);
  assert.equal(await codeOf(getAssertion(client, c, await rp.authenticationOptions({ allow: true }))), 'no_credential');
  const again = await latchRun(['device', 'passkey', 'remove', '--', reg.id], { home: phone });
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /no_credential|no passkey/);
});

test('a deny on the authenticator is NotAllowedError; the prompt names the site, the account, the browser and the computer', async () => {
  const phone2 = await newAuthenticator('phone2');
  const computer2 = await pairComputer(server, phone2);
  // stdin is /dev/null: nobody can answer, which is a deny.
  const d = latch(['device', 'run'], { home: phone2 });
  await d.waitFor(/ready: waiting for requests from 1 paired computer/);
  const c2 = await clientFor(computer2);
  try {
    const rp = relyingParty('example.com', 'https://example.com');
    let acked = false;
    const code = await codeOf(createCredential(c2, ctx, await rp.registrationOptions(), { onAck: () => (acked = true) }));
    assert.equal(code, 'denied');
    assert.equal(domExceptionNameFor(code), 'NotAllowedError');
    assert.ok(acked, 'the computer was told a person is being asked');
    await d.waitFor(/Create a passkey for example\.com \('Example', as the site names itself\) for ada\?/);
    await d.waitFor(/from Chromium on /);
  } finally {
    c2.close();
    d.kill();
  }
});
