/**
 * The sign round trip's hot path (issue 9), by behaviour, never by time: a box made with a
 * shared key is the same envelope as one made the long way; the authenticator has the answer in
 * its journal before the reply leaves, and the reply does not wait for the journal's sync; the
 * agent's answer does not wait for the relay to confirm the ack that clears it; the agent's own
 * Ed25519 check of an answer agrees with the WebCrypto one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as P from '../src/protocol/index.js';
import { isLatchError } from '../src/util/latch-error.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { RequestHandler } from '../src/authenticator/request-handler.js';
import { AuthenticatorClient } from '../src/computer/authenticator-client.js';
import type { ComputerPairing } from '../src/computer/computer-state.js';
import type { RelayClient, RelayMessage } from '../src/transport/relay-client.js';
import { checkAnswerSignature } from '../src/agent/answer-check.js';
import { ed25519PublicKeyBlob } from '../src/protocol/ssh/ssh-public-key.js';
import { ed25519SignatureBlob, verifySshSignature } from '../src/protocol/ssh/ssh-signature.js';
import { keystoreWithPairing, testPairing } from './helpers/test-pairing.js';

test('an envelope boxed with a shared key opens the long way, and the other way round; a wrong key is refused alike', async () => {
  const s = await P.sodiumReady();
  const a = s.crypto_box_keypair();
  const b = s.crypto_box_keypair();
  const plain = new TextEncoder().encode('{"v":1}');
  const aToB = P.boxSharedKey(s, b.publicKey, a.privateKey);
  const bToA = P.boxSharedKey(s, a.publicKey, b.privateKey);
  assert.deepEqual(P.openBoxedMessage(s, P.boxMessageShared(s, plain, aToB), a.publicKey, b.privateKey), plain);
  assert.deepEqual(P.openBoxedMessageShared(s, P.boxMessageRandom(s, plain, b.publicKey, a.privateKey), bToA), plain);
  const env = P.boxMessageShared(s, plain, aToB);
  assert.equal(env[0], P.ENVELOPE_VERSION);
  assert.equal(P.envelopeKind(env), 'boxed');
  const other = P.boxSharedKey(s, s.crypto_box_keypair().publicKey, b.privateKey);
  assert.throws(() => P.openBoxedMessageShared(s, env, other), (e: unknown) => isLatchError(e) && e.code === 'envelope_rejected');
});

test('the answer is in the journal before the reply leaves, and the reply goes out while the journal still syncs it (under the keystore lock)', async () => {
  const s = await P.sodiumReady();
  const { pairing, computer, session } = testPairing(s);
  const path = await keystoreWithPairing(s, pairing, 'test passphrase');
  const ks = await Keystore.open(s, path, 'test passphrase');
  const handler = new RequestHandler(s, ks, () => undefined);
  const journal = join(dirname(path), 'replay.journal');
  const lock = join(dirname(path), 'keystore.lock');
  const request: P.RequestMessage = { v: 1, type: 'request', request_id: P.newRequestId(s), unix_seconds: P.nowSeconds(), body: { kind: 'me' } };
  const env = P.boxMessageRandom(s, P.encodeMessage(request), session.publicKey, computer.privateKey);
  let atSend: { journalBytes: number; locked: boolean } | undefined;
  const replies: Uint8Array[] = [];
  assert.equal(
    await handler.handle(pairing, env, async (e) => {
      atSend = { journalBytes: statSync(journal).size, locked: existsSync(lock) };
      replies.push(e);
    }),
    'done',
  );
  assert.equal(replies.length, 1);
  const answer = P.parseMessage(P.openBoxedMessage(s, replies[0]!, session.publicKey, computer.privateKey));
  assert.equal(answer.type, 'response');
  // Everything the handler will ever append for this request was already written (a kill -9 from
  // here on cannot lose the answer)...
  assert.equal(atSend?.journalBytes, statSync(journal).size);
  // ...and the reply did not wait for the sync that follows the write: the journal's transaction
  // (which holds the lock) was still running.
  assert.equal(atSend?.locked, true);
  assert.equal(existsSync(lock), false);
  // A redelivery is answered from the journal with the same bytes.
  const again: Uint8Array[] = [];
  await handler.handle(pairing, env, async (e) => void again.push(e));
  assert.deepEqual(P.openBoxedMessage(s, again[0]!, session.publicKey, computer.privateKey), P.openBoxedMessage(s, replies[0]!, session.publicKey, computer.privateKey));
});

/**
 * A computer's pairing and a relay stand-in that answers each request as the authenticator would,
 * delivering the answer at once, and never confirms an ack (which a real relay cannot be made to
 * do on demand).
 */
function answeringRelayNeverAcking(s: P.Sodium): { pairing: ComputerPairing; relay: RelayClient; acksAsked: () => number; stop: () => void } {
  const computer = s.crypto_box_keypair();
  const auth = s.crypto_box_keypair();
  const queue = s.crypto_sign_keypair();
  const pairing: ComputerPairing = {
    deviceName: 'phone',
    deviceId: P.encodeBase64url(new Uint8Array(16)),
    sshKeys: [],
    relayUrl: 'http://127.0.0.1:9',
    computerPublicKey: P.encodeBase64url(computer.publicKey),
    computerSecretKey: P.encodeBase64url(computer.privateKey),
    queuePublicKey: P.encodeBase64url(queue.publicKey),
    queueSecretKey: P.encodeBase64url(queue.privateKey),
    authenticatorPublicKey: P.encodeBase64url(auth.publicKey),
    authenticatorQueue: P.queueIdFromPublicKey(s, s.crypto_sign_keypair().publicKey),
    pairedAt: P.nowSeconds(),
  };
  const inbox: RelayMessage[] = [];
  let wake: (() => void) | undefined;
  let acksAsked = 0;
  const relay = {
    send: async (_queue: string, envelope: Uint8Array) => {
      const bytes = P.openBoxedMessage(s, envelope, computer.publicKey, auth.privateKey);
      const req = P.parseMessage(bytes) as P.RequestMessage;
      const response: P.ResponseMessage = {
        v: 1,
        type: 'response',
        request_id: req.request_id,
        request_hash: P.requestHash(s, bytes),
        unix_seconds: P.nowSeconds(),
        result: { name: 'phone', device_id: pairing.deviceId, ssh_keys: [] },
      };
      inbox.push({ id: String(inbox.length + 1), body: P.boxMessageRandom(s, P.encodeMessage(response), computer.publicKey, auth.privateKey), receivedAt: P.nowSeconds() });
      wake?.();
      return { id: '1' };
    },
    inbox: (_queue: unknown, opts: { signal: AbortSignal }) => ({
      async *[Symbol.asyncIterator]() {
        while (!opts.signal.aborted) {
          while (inbox.length > 0) yield inbox.shift()!;
          await new Promise<void>((r) => (wake = r));
        }
      },
    }),
    ack: () => {
      acksAsked++;
      return new Promise<void>(() => undefined);
    },
  } as unknown as RelayClient;
  return { pairing, relay, acksAsked: () => acksAsked, stop: () => wake?.() };
}

test("latch agent's client hands over an answer while the relay has not yet confirmed the ack that clears it", async () => {
  const s = await P.sodiumReady();
  const { pairing, relay, acksAsked, stop } = answeringRelayNeverAcking(s);
  const client = new AuthenticatorClient(s, relay, pairing, () => undefined, true);
  // Without settling first this would run into the request's timeout (authenticator_timeout).
  const info = await client.request({ kind: 'me' }, { timeoutSeconds: 5 });
  assert.equal(info.name, 'phone');
  assert.equal(acksAsked(), 1);
  client.close();
  stop();
});

test("latch agent's client hands over the next answer too while the ack of the one before is unconfirmed (several logins at once)", async () => {
  const s = await P.sodiumReady();
  const { pairing, relay, acksAsked, stop } = answeringRelayNeverAcking(s);
  const client = new AuthenticatorClient(s, relay, pairing, () => undefined, true);
  // Both answers are in the inbox at once; the second one must not wait behind the first's ack.
  const infos = await Promise.all([1, 2, 3].map(() => client.request({ kind: 'me' }, { timeoutSeconds: 5 })));
  assert.deepEqual(infos.map((i) => i.name), ['phone', 'phone', 'phone']);
  assert.equal(acksAsked(), 3);
  client.close();
  stop();
});

test("the agent's own Ed25519 check agrees with the WebCrypto one: a good signature passes; other data, a changed byte or another key fail", async () => {
  const s = await P.sodiumReady();
  const kp = s.crypto_sign_keypair();
  const keyBlob = ed25519PublicKeyBlob(kp.publicKey);
  const data = new TextEncoder().encode('userauth request bytes');
  const sig = ed25519SignatureBlob(s.crypto_sign_detached(data, kp.privateKey));
  const bad = sig.slice();
  bad[bad.length - 1]! ^= 1;
  const otherKey = ed25519PublicKeyBlob(s.crypto_sign_keypair().publicKey);
  const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
    [keyBlob, sig, data],
    [keyBlob, sig, new TextEncoder().encode('other bytes')],
    [keyBlob, bad, data],
    [otherKey, sig, data],
  ];
  const got = await Promise.all(cases.map(([k, g, d]) => checkAnswerSignature(k, g, d)));
  assert.deepEqual(got, [true, false, false, false]);
  assert.deepEqual(await Promise.all(cases.map(([k, g, d]) => verifySshSignature(k, g, d))), got);
});
