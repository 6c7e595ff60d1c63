/** Checks every vector in test/vectors/protocol-v1.json against the protocol module. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as P from '../src/protocol/index.js';

const V = JSON.parse(readFileSync(new URL('../../test/vectors/protocol-v1.json', import.meta.url), 'utf8'));
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('vector keys are what their sources say (RFC 7748, RFC 8032)', async () => {
  const s = await P.sodiumReady();
  assert.equal(hex(s.crypto_scalarmult_base(unhex(V.keys.computer_x25519_secret_key))), V.keys.computer_x25519_public_key);
  assert.equal(hex(s.crypto_scalarmult_base(unhex(V.keys.authenticator_x25519_secret_key))), V.keys.authenticator_x25519_public_key);
  assert.equal(hex(s.crypto_sign_seed_keypair(unhex(V.keys.computer_queue_ed25519_seed)).publicKey), V.keys.computer_queue_ed25519_public_key);
});

test('queue ids', async () => {
  const s = await P.sodiumReady();
  for (const v of V.queue_ids) {
    assert.equal(P.queueIdFromPublicKey(s, unhex(v.public_key)), v.queue_id);
    assert.ok(P.isQueueId(v.queue_id));
  }
});

test('check codes', async () => {
  const s = await P.sodiumReady();
  for (const v of V.check_codes) {
    assert.equal(P.checkCode(s, unhex(v.computer_public_key), unhex(v.authenticator_public_key)), v.code);
  }
});

test('pairing links format to the exact text and parse back', () => {
  for (const v of V.pairing_links) {
    const link = { version: v.version, computerPublicKey: unhex(v.computer_public_key), queueId: v.queue_id, name: v.name, relayUrl: v.relay_url };
    assert.equal(P.formatPairingLink(link), v.link);
    const parsed = P.parsePairingLink(v.link);
    assert.equal(hex(parsed.computerPublicKey), v.computer_public_key);
    assert.deepEqual([parsed.queueId, parsed.name, parsed.relayUrl, parsed.version], [v.queue_id, v.name, v.relay_url, v.version]);
  }
});

test('rejected pairing links get their codes', () => {
  for (const v of V.rejected_pairing_links) {
    assert.throws(() => P.parsePairingLink(v.link), (e: P.PairingLink & { code?: string }) => e.code === v.code, v.link);
  }
});

test('boxed envelopes: exact bytes, and they open back to the message', async () => {
  const s = await P.sodiumReady();
  const keys = V.keys;
  const pkOf = (sk: string): Uint8Array => s.crypto_scalarmult_base(unhex(sk));
  for (const v of V.boxed_envelopes) {
    const message = v.message !== undefined ? unhex(v.message) : text(v.message_text);
    const env = P.boxMessage(s, message, unhex(v.nonce), unhex(v.recipient_public_key), unhex(v.sender_secret_key));
    assert.equal(hex(env), v.envelope, v.source);
    const recipientSk = v.recipient_public_key === keys.authenticator_x25519_public_key ? keys.authenticator_x25519_secret_key : keys.computer_x25519_secret_key;
    const opened = P.openBoxedMessage(s, unhex(v.envelope), pkOf(v.sender_secret_key), unhex(recipientSk));
    assert.equal(hex(opened), hex(message));
    if (v.message_text !== undefined) assert.equal(hex(P.encodeMessage(P.parseMessage(opened))), hex(message));
  }
});

test('sealed pairing offers open to the stated values', async () => {
  const s = await P.sodiumReady();
  for (const v of V.sealed_envelopes) {
    const offer = P.openPairingOffer(s, unhex(v.envelope), unhex(v.computer_public_key), unhex(v.computer_secret_key));
    assert.equal(hex(offer.authenticatorPublicKey), v.authenticator_public_key);
    assert.equal(offer.authenticatorQueueId, v.authenticator_queue_id);
  }
});

test('request hashes', async () => {
  const s = await P.sodiumReady();
  for (const v of V.request_hashes) assert.equal(P.requestHash(s, text(v.message_text)), v.request_hash);
});

test('request deadlines (PROTOCOL.md §5.2): optional, read as sent', () => {
  for (const v of V.request_deadlines as { why: string; message_text: string; deadline: number | null }[]) {
    const m = P.parseMessage(text(v.message_text));
    assert.equal(m.type, 'request', v.why);
    assert.equal(m.type === 'request' ? m.deadline : undefined, v.deadline ?? undefined, v.why);
    assert.equal(new TextDecoder().decode(P.encodeMessage(m)), v.message_text, `${v.why}: re-encodes to the same bytes`);
  }
});

test('rejected messages get their codes', () => {
  for (const v of V.rejected_messages) {
    assert.throws(() => P.parseMessage(text(v.message_text)), (e: { code?: string }) => e.code === v.code, v.why);
  }
});

test('relay proofs: exact header for a fixed key, method, path, time and body (PROTOCOL.md §3.2)', async () => {
  const s = await P.sodiumReady();
  const { signRelayProof, relayProofText, relayProofBodyHash, verifyRelayProof } = await import('../src/relay/relay-proof.js');
  for (const v of V.relay_proofs) {
    const kp = s.crypto_sign_seed_keypair(unhex(V.keys[v.seed]));
    const body = text(v.body_text);
    assert.equal(relayProofBodyHash(s, body), v.body_sha256_b64url, v.why);
    assert.equal(relayProofText(v.method, v.pathname, v.unix_seconds, v.body_sha256_b64url), v.signed_text, v.why);
    assert.equal(signRelayProof(s, { publicKey: kp.publicKey, secretKey: kp.privateKey }, v.method, v.pathname, v.unix_seconds, body), v.header, v.why);
    const queueId = v.pathname.split('/')[3];
    const expected = { method: v.method, pathname: v.pathname, queueId, nowSeconds: v.unix_seconds };
    assert.equal(verifyRelayProof(s, v.header, { ...expected, body }).ok, true, v.why);
    assert.equal(verifyRelayProof(s, v.header, { ...expected, body: text(v.body_text + ' ') }).ok, false, 'another body fails');
  }
});
