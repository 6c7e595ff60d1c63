/**
 * The WebAuthn codecs (src/protocol/webauthn/) against the W3C WebAuthn Level 3 test vector
 * "ES256 Credential with No Attestation" (test/vectors/webauthn-w3c-none-es256.json), plus
 * round-trip properties and the RP ID rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, verify } from 'node:crypto';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { parseNoneAttestationObject, buildNoneAttestationObject } from '../src/protocol/webauthn/attestation-object.js';
import { buildAuthenticatorData, parseAuthenticatorData, type AuthenticatorData } from '../src/protocol/webauthn/authenticator-data.js';
import { buildClientDataJSON, checkClientData, parseClientDataJSON } from '../src/protocol/webauthn/client-data.js';
import { COSE_EDDSA, COSE_ES256, encodeCoseKey, parseCoseKey, spkiFromPublicKey, type PublicKey } from '../src/protocol/webauthn/cose-key.js';
import { checkRpId } from '../src/protocol/webauthn/rp-id.js';
import { decodeCbor } from '../src/protocol/webauthn/cbor.js';
import { parseCreateOptions, parseGetOptions } from '../src/protocol/webauthn/webauthn-options.js';
import { domExceptionNameFor } from '../src/protocol/webauthn/webauthn-errors.js';
import { LatchError } from '../src/util/latch-error.js';
import { parseSite, siteCovers } from '../src/browser/excluded-sites.js';
import { parseAnswer } from '../src/authenticator/sign-review.js';

const V = JSON.parse(readFileSync(new URL('../../test/vectors/webauthn-w3c-none-es256.json', import.meta.url), 'utf8'));
const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof LatchError) return e.code;
    throw e;
  }
  return 'none';
};

test('W3C "ES256 Credential with No Attestation": registration parses, and rebuilding it gives the same bytes', () => {
  const att = parseNoneAttestationObject(hex(V.registration.attestationObject));
  const d = att.parsed;
  assert.deepEqual(d.rpIdHash, sha256(new TextEncoder().encode(V.rpId)));
  assert.deepEqual(d.flags, { up: true, uv: false, be: true, bs: true });
  assert.equal(d.signCount, 0);
  assert.deepEqual(d.attestedCredential!.credentialId, hex(V.registration.credentialId));
  assert.equal(d.attestedCredential!.publicKey.alg, COSE_ES256);
  // Our encoder writes exactly the spec's bytes (CTAP2 canonical CBOR).
  assert.deepEqual(buildAuthenticatorData(d), att.authData);
  assert.deepEqual(buildNoneAttestationObject(buildAuthenticatorData(d)), hex(V.registration.attestationObject));
  const cd = checkClientData(hex(V.registration.clientDataJSON), { type: 'webauthn.create', rpId: V.rpId });
  assert.deepEqual(cd.challenge, hex(V.registration.challenge));
  assert.equal(cd.origin, V.origin);
});

test('W3C "ES256 Credential with No Attestation": the assertion verifies with the registered key', () => {
  const key = parseNoneAttestationObject(hex(V.registration.attestationObject)).parsed.attestedCredential!.publicKey;
  const authData = hex(V.authentication.authenticatorData);
  const d = parseAuthenticatorData(authData);
  assert.deepEqual(d.flags, { up: true, uv: false, be: true, bs: true });
  assert.equal(d.attestedCredential, undefined);
  assert.deepEqual(buildAuthenticatorData(d), authData);
  const clientData = hex(V.authentication.clientDataJSON);
  const cd = checkClientData(clientData, { type: 'webauthn.get', rpId: V.rpId });
  assert.deepEqual(cd.challenge, hex(V.authentication.challenge));
  const signed = new Uint8Array([...authData, ...sha256(clientData)]);
  assert.ok(p256.verify(hex(V.authentication.signature), signed, key.raw, { format: 'der', lowS: false }));
  // The spec's signature has a high S (WebAuthn does not require low-S), hence lowS: false.
  // The SPKI form (getPublicKey()) is what WebCrypto imports.
  const spki = spkiFromPublicKey(key);
  assert.ok(verify('sha256', signed, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), hex(V.authentication.signature)));
  // A changed byte fails: the vector is not checked vacuously.
  signed[0]! ^= 1;
  assert.ok(!p256.verify(hex(V.authentication.signature), signed, key.raw, { format: 'der', lowS: false }));
});

test('the clientDataJSON type is checked: a create response is not a get', () => {
  assert.equal(code(() => checkClientData(hex(V.registration.clientDataJSON), { type: 'webauthn.get', rpId: V.rpId })), 'bad_client_data');
  assert.equal(code(() => checkClientData(hex(V.registration.clientDataJSON), { type: 'webauthn.create', rpId: 'example.com' })), 'rp_id_mismatch');
});

const publicKeys: fc.Arbitrary<PublicKey> = fc.oneof(
  fc.uint8Array({ minLength: 48, maxLength: 48 }).map((seed): PublicKey => ({ alg: COSE_ES256, raw: p256.getPublicKey(p256.utils.randomSecretKey(seed), false) })),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((seed): PublicKey => ({ alg: COSE_EDDSA, raw: ed25519.getPublicKey(seed) })),
);

test('COSE keys and authenticatorData round-trip (property)', () => {
  fc.assert(
    fc.property(
      publicKeys,
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.record({ up: fc.boolean(), uv: fc.boolean(), be: fc.boolean() }),
      fc.boolean(),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.option(fc.record({ aaguid: fc.uint8Array({ minLength: 16, maxLength: 16 }), credentialId: fc.uint8Array({ minLength: 1, maxLength: 1023 }) })),
      (key, rpIdHash, f, bs, signCount, att) => {
        assert.deepEqual(parseCoseKey(encodeCoseKey(key)), key);
        const d: AuthenticatorData = { rpIdHash, flags: { ...f, bs: f.be && bs }, signCount };
        if (att) d.attestedCredential = { ...att, publicKey: key };
        const bytes = buildAuthenticatorData(d);
        assert.deepEqual(parseAuthenticatorData(bytes), d);
        if (att) assert.deepEqual(parseNoneAttestationObject(buildNoneAttestationObject(bytes)).parsed, d);
      },
    ),
    { numRuns: 200 },
  );
});

test('authenticatorData parsing refuses trailing bytes, truncation and non-canonical CBOR keys, with a LatchError', () => {
  const att = parseNoneAttestationObject(hex(V.registration.attestationObject));
  assert.equal(code(() => parseAuthenticatorData(new Uint8Array([...att.authData, 0]))), 'bad_authenticator_data');
  assert.equal(code(() => parseAuthenticatorData(att.authData.subarray(0, 60))), 'bad_authenticator_data');
  // 0x18 0x01 is 1 in a non-shortest form: strict decoding refuses it.
  assert.equal(code(() => decodeCbor(new Uint8Array([0x18, 0x01]), 'x')), 'bad_cbor');
  // A map with a duplicate key.
  assert.equal(code(() => decodeCbor(new Uint8Array([0xa2, 0x01, 0x01, 0x01, 0x02]), 'x')), 'bad_cbor');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const c = code(() => parseAuthenticatorData(b));
      assert.ok(c === 'none' || c.startsWith('bad_'), c);
    }),
  );
});

test('clientDataJSON round-trips (property)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('webauthn.create' as const, 'webauthn.get' as const),
      fc.uint8Array({ minLength: 16, maxLength: 64 }),
      fc.constantFrom('https://example.com', 'http://localhost:8080', 'https://a.b.example.co.uk'),
      fc.option(fc.constantFrom('https://top.example')),
      (type, challenge, origin, top) => {
        const cd = top === null ? { type, challenge, origin, crossOrigin: false } : { type, challenge, origin, crossOrigin: true, topOrigin: top };
        assert.deepEqual(parseClientDataJSON(buildClientDataJSON(cd)), cd);
      },
    ),
  );
});

test('RP ID: the host or a registrable suffix on a label boundary, never a public suffix or another site', () => {
  const ok = (rpId: string, origin: string): void => assert.equal(code(() => checkRpId(rpId, origin)), 'none', `${rpId} @ ${origin}`);
  const no = (rpId: string, origin: string, c = 'rp_id_mismatch'): void => assert.equal(code(() => checkRpId(rpId, origin)), c, `${rpId} @ ${origin}`);
  ok('example.com', 'https://example.com');
  ok('example.com', 'https://login.example.com');
  ok('login.example.com', 'https://login.example.com:8443');
  ok('example.co.uk', 'https://www.example.co.uk');
  ok('foo.github.io', 'https://foo.github.io');
  ok('localhost', 'http://localhost:5000');
  no('ample.com', 'https://example.com'); // not on a label boundary
  no('example.org', 'https://example.com');
  no('com', 'https://example.com'); // ICANN public suffix
  no('co.uk', 'https://www.example.co.uk');
  no('github.io', 'https://foo.github.io'); // private-section public suffix
  no('www.example.com', 'https://example.com'); // longer than the host
  no('Example.com', 'https://example.com');
  no('127.0.0.1', 'https://127.0.0.1');
  no('example.com', 'http://example.com', 'bad_origin'); // http only on localhost
  no('example.com', 'https://example.com/path', 'bad_origin');
  no('example.com', 'null', 'bad_origin');
});

test('page options get the spec\'s exception: user.id over 64 bytes, no supported algorithm, a huge challenge', () => {
  const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64url');
  const base = {
    rp: { name: 'Example', id: 'example.com' },
    user: { id: b64(16), name: 'ada', displayName: 'Ada' },
    challenge: b64(32),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
  };
  assert.equal(parseCreateOptions(base).algorithm, COSE_ES256);
  assert.equal(parseCreateOptions({ ...base, pubKeyCredParams: [] }).algorithm, COSE_ES256); // §5.1.3 step 10 default
  assert.equal(parseCreateOptions({ ...base, pubKeyCredParams: [{ type: 'public-key', alg: -8 }, { type: 'public-key', alg: -257 }] }).algorithm, COSE_EDDSA);
  assert.equal(parseCreateOptions({ ...base, pubKeyCredParams: [{ type: 'public-key', alg: -8 }, { type: 'public-key', alg: -7 }] }).algorithm, COSE_ES256);
  const name = (x: unknown): string => domExceptionNameFor(code(() => parseCreateOptions(x)));
  assert.equal(name({ ...base, user: { ...base.user, id: b64(65) } }), 'TypeError');
  assert.equal(name({ ...base, user: { ...base.user, id: '' } }), 'TypeError');
  assert.equal(name({ ...base, pubKeyCredParams: [{ type: 'public-key', alg: -257 }] }), 'NotSupportedError');
  assert.equal(name({ ...base, challenge: b64(1024 * 1024) }), 'TypeError');
  assert.equal(domExceptionNameFor(code(() => parseGetOptions({ challenge: b64(1024 * 1024) }))), 'TypeError');
  assert.deepEqual(parseGetOptions({ challenge: b64(32), allowCredentials: [{ type: 'public-key', id: b64(32) }, { type: 'other', id: 'x' }] }).allowIds.length, 1);
});

test('exclusion list sites: normalised to the lower-case ASCII host, covering subdomains on a label boundary only', () => {
  assert.equal(parseSite('Example.COM'), 'example.com');
  assert.equal(parseSite('https://login.example.com:8443/path'), 'login.example.com');
  assert.equal(parseSite('bücher.example'), 'xn--bcher-kva.example');
  for (const bad of ['', 'a b', '192.168.1.1', 'https://[::1]/', 'http://']) assert.throws(() => parseSite(bad), (e: unknown) => (e as LatchError).code === 'bad_site', bad);
  assert.equal(siteCovers('example.com', 'example.com'), true);
  assert.equal(siteCovers('example.com', 'login.example.com'), true);
  assert.equal(siteCovers('example.com', 'badexample.com'), false);
  assert.equal(siteCovers('login.example.com', 'example.com'), false);
});

test('WebAuthn answers: k is "use another key" and a number picks an account only where the prompt offers them', () => {
  const webauthn = { offerAnotherKey: true, accounts: ['ada', 'lin'] };
  assert.deepEqual(parseAnswer('k', webauthn), { kind: 'deny', reason: 'use another key', anotherKey: true });
  assert.deepEqual(parseAnswer('2', webauthn), { kind: 'once', account: 2 });
  assert.throws(() => parseAnswer('3', webauthn), /no account 3/);
  assert.throws(() => parseAnswer('y', webauthn), /which account/);
  assert.deepEqual(parseAnswer('y', { offerAnotherKey: true, accounts: ['ada'] }), { kind: 'once' });
  // Elsewhere (an SSH prompt) neither is an answer.
  assert.throws(() => parseAnswer('k'), /not an answer/);
  assert.throws(() => parseAnswer('2'), /not an answer/);
});
