/**
 * Issue 3 protocol pieces in process: the ssh_sign / sign_message message kinds (round trip,
 * strictness, fuzz), the host-hint parser (fuzz), the answer syntax, the cross-protocol rule
 * on the authenticator, and replays answered from the cache without a second prompt or signature.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { parseMessage, encodeMessage, parseResult, newRequestId, type RequestMessage, type SshSignBody } from '../src/protocol/messages.js';
import { PROTOCOL_VERSION } from '../src/protocol/protocol-constants.js';
import { encodeBase64url, decodeBase64url } from '../src/protocol/base64url.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { boxMessageRandom, openBoxedMessage } from '../src/protocol/envelope.js';
import { SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { encodeBase64 } from '../src/protocol/base64url.js';
import { verifySshSignature } from '../src/protocol/ssh/ssh-signature.js';
import { ed25519PublicKeyBlob } from '../src/protocol/ssh/ssh-public-key.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { RequestHandler } from '../src/authenticator/request-handler.js';
import { generateEd25519SshKey, generateP256SshKey } from '../src/authenticator/ssh-key-factory.js';
import { signSshData } from '../src/authenticator/ssh-signer.js';
import { parseAnswer } from '../src/authenticator/sign-review.js';
import type { Approver, Decision } from '../src/authenticator/sign-review.js';
import type { StoredPairing } from '../src/authenticator/authenticator-state.js';
import { parseHostHint, encodeHostHint } from '../src/agent/host-hints.js';
import { isLatchError } from '../src/util/latch-error.js';

function onlyLatchErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isLatchError(e)) throw e;
  }
}

const b64 = fc.uint8Array({ minLength: 1, maxLength: 64 }).map(encodeBase64url);
const bindArb = fc.record({ host_key: b64, session_id: b64, signature: b64, is_forwarding: fc.boolean() });
const sshSignArb = fc.record(
  { kind: fc.constant('ssh_sign' as const), key: b64, data: b64, binds: fc.array(bindArb, { maxLength: 16 }), host_hint: fc.record({ host: fc.stringMatching(/^[a-z0-9.-]{1,30}$/), port: fc.integer({ min: 1, max: 65535 }) }) },
  { requiredKeys: ['kind', 'key', 'data', 'binds'] },
);
const signMessageArb = fc.record({ kind: fc.constant('sign_message' as const), key: b64, namespace: fc.stringMatching(/^[a-z@.]{1,20}$/), message: fc.uint8Array({ maxLength: 200 }).map(encodeBase64url) });

function request(body: RequestMessage['body'], id = 'AAAAAAAAAAAAAAAAAAAAAA'): RequestMessage {
  return { v: PROTOCOL_VERSION, type: 'request', request_id: id, unix_seconds: 1_700_000_000, body };
}

test('ssh_sign and sign_message requests round-trip through encode/parse', () => {
  fc.assert(
    fc.property(fc.oneof(sshSignArb, signMessageArb), (body) => {
      const msg = request(body as RequestMessage['body']);
      // fast-check records have a null prototype: compare plain copies.
      assert.deepEqual(parseMessage(encodeMessage(msg)), JSON.parse(JSON.stringify(msg)));
    }),
    { numRuns: 500 },
  );
});

test('ssh_sign parsing is strict: unknown fields, bad base64url, too many binds, bad host hints', () => {
  const ok: SshSignBody = { kind: 'ssh_sign', key: 'AAAA', data: 'AAAA', binds: [] };
  const bad = [
    { ...ok, extra: 1 },
    { ...ok, key: 'AAAA=' },
    { ...ok, key: 'AA+A' },
    { ...ok, data: '' },
    { ...ok, binds: Array(17).fill({ host_key: 'AA', session_id: 'AA', signature: 'AA', is_forwarding: false }) },
    { ...ok, binds: [{ host_key: 'AA', session_id: 'AA', signature: 'AA', is_forwarding: 1 }] },
    { ...ok, host_hint: { host: 'a b', port: 22 } },
    { ...ok, host_hint: { host: 'a', port: 0 } },
    { ...ok, host_hint: { host: 'a', port: 22, user: 'x' } },
    { kind: 'sign_message', key: 'AAAA', namespace: 'has space', message: '' },
    { kind: 'sign_message', key: 'AAAA', namespace: 'git', message: 'A'.repeat(60000) },
  ];
  for (const body of bad) {
    assert.throws(() => parseMessage(encodeMessage(request(body as unknown as RequestMessage['body']))), (e) => isLatchError(e, 'bad_message'), JSON.stringify(body).slice(0, 80));
  }
  assert.throws(() => parseResult('sign_message', { signature: 'not armored' }), (e) => isLatchError(e, 'bad_message'));
  assert.throws(() => parseResult('ssh_sign', { signature: 'AAAA', more: 1 }), (e) => isLatchError(e, 'bad_message'));
});

test('fuzz: mutated ssh_sign / sign_message messages only ever fail with a LatchError', () => {
  fc.assert(
    fc.property(fc.oneof(sshSignArb, signMessageArb), fc.nat(), fc.string({ maxLength: 4 }), fc.nat(3), (body, at, insert, del) => {
      const text = new TextDecoder().decode(encodeMessage(request(body as RequestMessage['body'])));
      const i = at % text.length;
      onlyLatchErrors(() => parseMessage(new TextEncoder().encode(text.slice(0, i) + insert + text.slice(i + del))));
    }),
    { numRuns: 3000 },
  );
});

test('host hints: round trip, strictness, and fuzz (random and mutated lines)', () => {
  const blob = ed25519PublicKeyBlob(new Uint8Array(32).fill(3));
  const hint = { user: 'ann', host: 'example.org', port: 2222, hostKeyBlob: blob };
  assert.deepEqual(parseHostHint(encodeHostHint(hint)), hint);
  for (const bad of ['{}', '[]', 'null', `{"user":"a","host":"h","port":22,"host_key":"${encodeBase64(blob)}","x":1}`, `{"user":"a b","host":"h","port":22,"host_key":"${encodeBase64(blob)}"}`]) {
    assert.throws(() => parseHostHint(bad), (e) => isLatchError(e));
  }
  const valid = encodeHostHint(hint);
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (t) => onlyLatchErrors(() => parseHostHint(t))), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.string({ maxLength: 4 }), fc.nat(3), (at, insert, del) =>
      onlyLatchErrors(() => parseHostHint(valid.slice(0, at) + insert + valid.slice(at + del))),
    ),
    { numRuns: 3000 },
  );
});

test('answer syntax', () => {
  assert.deepEqual(parseAnswer('y'), { kind: 'once' });
  assert.deepEqual(parseAnswer(' D '), { kind: 'deny' });
  assert.deepEqual(parseAnswer('h'), { kind: 'timed', scope: 'host', seconds: 3 * 3600 });
  assert.deepEqual(parseAnswer('s 2'), { kind: 'timed', scope: 'ssh', seconds: 7200 });
  assert.deepEqual(parseAnswer('g 90m'), { kind: 'timed', scope: 'git', seconds: 5400 });
  assert.deepEqual(parseAnswer('h 3s'), { kind: 'timed', scope: 'host', seconds: 3 });
  for (const bad of ['', 'maybe', 'h -1', 'h 0', 'g 9999h', 'y y']) assert.throws(() => parseAnswer(bad), (e) => isLatchError(e, 'bad_answer'));
});

test('the authenticator signs only SSH userauth requests naming the key, or SSHSIG blobs', async () => {
  const sodium = await sodiumReady();
  for (const key of [generateEd25519SshKey(sodium, 'a', 0), generateP256SshKey('b', 0)]) {
    const blob = Buffer.from(key.publicBlob, 'base64');
    const userauth = new SshWriter().string(new Uint8Array(32).fill(1)).byte(50).string('u').string('ssh-connection').string('publickey').bool(true).string(key.type).string(blob).bytes();
    const { signature } = signSshData(sodium, key, userauth);
    assert.ok(await verifySshSignature(blob, signature, userauth));
    const other = ed25519PublicKeyBlob(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const forOther = new SshWriter().string(new Uint8Array(32).fill(1)).byte(50).string('u').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(other).bytes();
    for (const data of [forOther, new TextEncoder().encode('a Flow transaction or WebAuthn clientData'), new Uint8Array(32)]) {
      assert.throws(() => signSshData(sodium, key, data), (e) => isLatchError(e, 'not_ssh_data'));
    }
  }
});

test('a replayed ssh_sign is answered from the cache: one prompt, one signature, identical bytes', async () => {
  const sodium = await sodiumReady();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-replay-'));
  const key = generateEd25519SshKey(sodium, 'ssh', 0);
  const computer = sodium.crypto_box_keypair();
  const session = sodium.crypto_box_keypair();
  const pairing: StoredPairing = {
    id: 'q'.repeat(43),
    computerName: 'laptop',
    computerPublicKey: encodeBase64url(computer.publicKey),
    computerQueue: 'c'.repeat(43),
    relayUrl: 'http://127.0.0.1:1',
    sessionPublicKey: encodeBase64url(session.publicKey),
    sessionSecretKey: encodeBase64url(session.privateKey),
    queuePublicKey: '',
    queueSecretKey: '',
    pairedAt: 0,
  };
  const ks = await Keystore.create(sodium, path.join(dir, 'keystore.json'), 'pw', {
    v: 1, deviceId: encodeBase64url(sodium.randombytes_buf(16)), name: 'phone', createdAt: 0, sshKeys: [key], pairings: [pairing], replay: [],
  });
  let asked = 0;
  const approver: Approver = { interactive: true, ask: async (): Promise<Decision> => (asked++, { kind: 'once' }) };
  const handler = new RequestHandler(sodium, ks, () => undefined, undefined, { approver });
  const blob = Buffer.from(key.publicBlob, 'base64');
  const data = new SshWriter().string(new Uint8Array(32).fill(9)).byte(50).string('ann').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(blob).bytes();
  const msg: RequestMessage = { v: PROTOCOL_VERSION, type: 'request', request_id: newRequestId(sodium), unix_seconds: Math.floor(Date.now() / 1000), body: { kind: 'ssh_sign', key: encodeBase64url(blob), data: encodeBase64url(data), binds: [] } };
  const envelope = boxMessageRandom(sodium, encodeMessage(msg), session.publicKey, computer.privateKey);
  const sent: Uint8Array[] = [];
  const send = async (e: Uint8Array): Promise<void> => void sent.push(openBoxedMessage(sodium, e, session.publicKey, computer.privateKey));
  await handler.handle(pairing, envelope, send);
  await handler.handle(pairing, envelope, send);
  const types = sent.map((b) => parseMessage(b).type);
  assert.deepEqual(types, ['ack', 'response', 'response']); // the ack before the prompt; no second ack
  assert.equal(asked, 1);
  assert.deepEqual(sent[1], sent[2]);
  const resp = parseMessage(sent[1]!);
  assert.ok(resp.type === 'response' && resp.result);
  const sig = decodeBase64url((resp.result as { signature: string }).signature);
  assert.ok(await verifySshSignature(blob, sig, data));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the authenticator re-verifies session binds: a tampered bind is refused without a prompt; pins and refuses a changed key', async () => {
  const sodium = await sodiumReady();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-binds-'));
  const key = generateEd25519SshKey(sodium, 'ssh', 0);
  const computer = sodium.crypto_box_keypair();
  const session = sodium.crypto_box_keypair();
  const pairing: StoredPairing = {
    id: 'p'.repeat(43), computerName: 'laptop', computerPublicKey: encodeBase64url(computer.publicKey), computerQueue: 'c'.repeat(43), relayUrl: 'http://127.0.0.1:1',
    sessionPublicKey: encodeBase64url(session.publicKey), sessionSecretKey: encodeBase64url(session.privateKey), queuePublicKey: '', queueSecretKey: '', pairedAt: 0,
  };
  const ks = await Keystore.create(sodium, path.join(dir, 'keystore.json'), 'pw', {
    v: 1, deviceId: encodeBase64url(sodium.randombytes_buf(16)), name: 'phone', createdAt: 0, sshKeys: [key], pairings: [pairing], replay: [],
  });
  const reviews: string[][] = [];
  const approver: Approver = { interactive: true, ask: async (r): Promise<Decision> => (reviews.push(r.lines), { kind: 'once' }) };
  const handler = new RequestHandler(sodium, ks, () => undefined, undefined, { approver });
  const blob = Buffer.from(key.publicBlob, 'base64');
  const { ed25519SignatureBlob } = await import('../src/protocol/ssh/ssh-signature.js');

  async function login(hostSk: Uint8Array, tamper: boolean): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
    const hostKey = ed25519PublicKeyBlob(ed25519.getPublicKey(hostSk));
    const sid = sodium.randombytes_buf(32);
    const sig = ed25519SignatureBlob(ed25519.sign(sid, hostSk));
    if (tamper) sig[sig.length - 1]! ^= 1;
    const data = new SshWriter().string(sid).byte(50).string('ann').string('ssh-connection').string('publickey-hostbound-v00@openssh.com').bool(true).string('ssh-ed25519').string(blob).string(hostKey).bytes();
    const body: SshSignBody = {
      kind: 'ssh_sign', key: encodeBase64url(blob), data: encodeBase64url(data),
      binds: [{ host_key: encodeBase64url(hostKey), session_id: encodeBase64url(sid), signature: encodeBase64url(sig), is_forwarding: false }],
      host_hint: { host: 'example.org', port: 22 },
    };
    const msg: RequestMessage = { v: PROTOCOL_VERSION, type: 'request', request_id: newRequestId(sodium), unix_seconds: Math.floor(Date.now() / 1000), body };
    let last: Uint8Array | undefined;
    await handler.handle(pairing, boxMessageRandom(sodium, encodeMessage(msg), session.publicKey, computer.privateKey), async (e) => {
      last = openBoxedMessage(sodium, e, session.publicKey, computer.privateKey);
    });
    const resp = parseMessage(last!);
    assert.equal(resp.type, 'response');
    return resp as { result?: unknown; error?: { code: string; message: string } };
  }

  const hostA = ed25519.utils.randomSecretKey();
  const tampered = await login(hostA, true);
  assert.equal(tampered.error?.code, 'bad_session_bind');
  assert.equal(reviews.length, 0);

  const first = await login(hostA, false);
  assert.ok(first.result, JSON.stringify(first.error));
  assert.match(reviews[0]![0]!, /SSH login as ann@example\.org/);
  assert.match(reviews[0]![1]!, /VERIFIED/);
  assert.equal(ks.state.pinnedHosts?.[0]?.name, 'example.org');

  const changed = await login(ed25519.utils.randomSecretKey(), false);
  assert.equal(changed.error?.code, 'host_key_changed');
  assert.match(changed.error!.message, /host key of example\.org changed/);
  assert.equal(reviews.length, 1);
  fs.rmSync(dir, { recursive: true, force: true });
});
