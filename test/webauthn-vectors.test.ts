/**
 * test/vectors/webauthn-v1.json (PROTOCOL.md §5.9): the request bodies parse (or are refused
 * with their code) inside a real request message, and the shared WebauthnCore produces the
 * vector's assertion byte for byte, which node:crypto verifies independently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, verify } from 'node:crypto';
import * as P from '../src/protocol/index.js';
import { WebauthnCore, type WebauthnStore } from '../src/authenticator/webauthn-core.js';
import { signWebauthnAssertion } from '../src/authenticator/webauthn-request-handler.js';
import { approveOnce } from '../src/authenticator/sign-review.js';
import { spkiFromPublicKey } from '../src/protocol/webauthn/cose-key.js';
import type { StoredPairing, StoredWebauthnCredential } from '../src/authenticator/authenticator-state.js';
import { isLatchError } from '../src/util/latch-error.js';

const V = JSON.parse(readFileSync(new URL('../../test/vectors/webauthn-v1.json', import.meta.url), 'utf8'));
const message = (body: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify({ v: 1, type: 'request', request_id: 'AAAAAAAAAAAAAAAAAAAAAA', unix_seconds: 1, body }));

test('webauthn vectors: valid bodies parse to themselves; invalid ones are refused with their code', () => {
  for (const body of V.valid_bodies) assert.deepEqual((P.parseMessage(message(body)) as P.RequestMessage).body, body);
  for (const { why, code, body } of V.invalid_bodies) {
    assert.throws(() => P.parseMessage(message(body)), (e) => isLatchError(e, code), why);
  }
});

test('webauthn vectors: the core answers the get body with the vector assertion, byte for byte', async () => {
  const a = V.assertion;
  const cred: StoredWebauthnCredential = {
    id: a.expected.credential_id,
    rpId: a.rp_id,
    rpName: 'Example',
    userHandle: a.expected.user_handle,
    userName: 'ada',
    userDisplayName: 'Ada',
    alg: -7,
    secret: a.credential_secret_p256,
    publicKey: a.credential_public_key,
    signCount: a.sign_count - 1,
    createdAt: 0,
  };
  const store: WebauthnStore = {
    list: async (rpId) => (rpId === cred.rpId ? [{ id: P.decodeBase64url(cred.id), rpId, userHandle: P.decodeBase64url(cred.userHandle), userName: cred.userName, createdAt: 0 }] : []),
    create: async () => assert.fail('no create here'),
    nextSignCount: async () => ++cred.signCount,
    sign: async (_id, data) => signWebauthnAssertion(cred, data),
  };
  const core = new WebauthnCore({ store, approver: approveOnce, log: () => undefined });
  const pairing = { id: 'p', computerName: 'laptop', computerPublicKey: P.encodeBase64url(new Uint8Array(32).fill(7)) } as StoredPairing;
  const result = await core.get(pairing, a.body, async () => undefined);
  assert.deepEqual(result, a.expected);
  const key = createPublicKey({ key: Buffer.from(spkiFromPublicKey({ alg: -7, raw: P.decodeBase64url(a.credential_public_key) })), format: 'der', type: 'spki' });
  const signed = Buffer.concat([Buffer.from(a.expected.authenticator_data, 'base64url'), createHash('sha256').update(Buffer.from(a.client_data, 'base64url')).digest()]);
  assert.ok(verify('sha256', signed, key, Buffer.from(a.expected.signature, 'base64url')));
});
