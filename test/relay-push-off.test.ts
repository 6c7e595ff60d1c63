/**
 * `Latch-Push: off` (PROTOCOL.md §3.9): a send that must not wake a closed app, such as the
 * agent's background key-list refresh, which woke the phone with a notification that had nothing
 * to approve. A real `latch server` posting to the push service stand-in (the only fake: real
 * push services are unreachable here), a queue with a registered subscription and no reader.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import { startLatchServer } from './helpers/latch-process.js';
import { startPushServiceStandIn } from './helpers/push-service-standin.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { queueIdFromPublicKey } from '../src/protocol/queue-id.js';
import { encodeBase64url } from '../src/protocol/base64url.js';

test('a send with Latch-Push: off is stored and read as usual but wakes nobody; a plain send still pushes; any other value is refused', async () => {
  const standin = await startPushServiceStandIn();
  const server = await startLatchServer({ args: ['--push-service', standin.endpointHost], env: { ...process.env, NODE_EXTRA_CA_CERTS: standin.caFile } });
  after(async () => {
    await server.stop();
    await standin.close();
  });
  const sodium = await sodiumReady();
  const kp = sodium.crypto_sign_keypair();
  const key = { publicKey: kp.publicKey, secretKey: kp.privateKey };
  const queue = queueIdFromPublicKey(sodium, key.publicKey);
  const reader = new RelayClient({ url: server.url });
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const subscription = { endpoint: `https://${standin.endpointHost}/wpush/v2/${randomUUID()}`, keys: { p256dh: encodeBase64url(ecdh.getPublicKey()), auth: encodeBase64url(randomBytes(16)) } };
  assert.equal(await reader.registerPush(key, subscription), true);

  // The agent's path (RelayClient.send with push: false): stored, nobody told to wake.
  const sender = new RelayClient({ url: server.url });
  const quiet = await sender.send(queue, new TextEncoder().encode('refresh'), { push: false });
  assert.equal(quiet.reader, 'none');
  // Only "off" is a value; anything else is refused before the body is read, and stores nothing.
  const odd = await fetch(`${server.url}/v1/queues/${queue}/messages`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'latch-push': 'on' }, body: 'x' });
  assert.equal(odd.status, 400);
  assert.equal(((await odd.json()) as { error: { code: string } }).error.code, 'bad_request');
  // A plain send to the same queue does push: the subscription was there all along.
  const loud = await sender.send(queue, new TextEncoder().encode('sign'));
  assert.equal(loud.reader, 'push');
  await standin.waitForPost(() => true);
  assert.equal(standin.posts.length, 1, JSON.stringify(standin.posts));

  // Both messages are there for the reader, in order; the refused one is not.
  const got: string[] = [];
  const ac = new AbortController();
  for await (const m of reader.inbox(key, { signal: ac.signal })) {
    got.push(new TextDecoder().decode(m.body));
    await reader.ack(key, [m.id]);
    if (got.length === 2) ac.abort();
  }
  assert.deepEqual(got, ['refresh', 'sign']);
});
