/**
 * Several relay URLs (issue 10): the list codec, the pairing link and the stored pairing that
 * carry it (an old single URL still loads), and a RelayClient that moves past a node that does
 * not answer. The kill -9 case across a NATS cluster is in relay-cluster.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets } from './helpers/relay-keys.js';
import { latchRun, tempDir } from './helpers/latch-process.js';
import { freePort } from './helpers/nats-cluster.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { parseRelayUrls } from '../src/protocol/relay-url-list.js';
import { formatPairingLink, parsePairingLink } from '../src/protocol/pairing-link.js';
import { isLatchError } from '../src/util/latch-error.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { encodeBase64url } from '../src/protocol/base64url.js';
import { queueIdFromPublicKey } from '../src/protocol/queue-id.js';

let relay: RelayProcess;
let dead: string;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
});
after(async () => {
  await relay.stop();
});

test('relay URL lists: canonical, in order; a single URL is a list of one; bad entries and repeats are refused', () => {
  assert.deepEqual(parseRelayUrls('https://a.example/,https://b.example:8443'), ['https://a.example', 'https://b.example:8443']);
  assert.deepEqual(parseRelayUrls('http://127.0.0.1:8470'), ['http://127.0.0.1:8470']);
  for (const bad of ['', 'https://a.example,', 'https://a.example,ftp://b', 'https://a.example,https://a.example/', Array(9).fill('https://a.example').map((u, i) => `${u}:${i + 1}`).join(',')]) {
    assert.throws(() => parseRelayUrls(bad), (e) => isLatchError(e, 'bad_relay_url'), bad);
  }
  const link = {
    version: 1,
    computerPublicKey: new Uint8Array(32).fill(7),
    queueId: 'AAAAAAAAAAAAAAAAAAAAAA',
    name: 'laptop',
    relayUrl: 'https://a.example,https://b.example',
  };
  const text = formatPairingLink(link);
  assert.equal(parsePairingLink(text).relayUrl, 'https://a.example,https://b.example', 'the link carries every node');
  assert.equal(parsePairingLink(formatPairingLink({ ...link, relayUrl: 'https://a.example' })).relayUrl, 'https://a.example');
});

test('a client given a dead node first sends, reads and acks through the next one, over HTTP and the socket', async () => {
  const client = new RelayClient({ url: `${dead},${relay.url}` });
  const q = await newQueue();
  const sent = await client.send(q.id, octets('over the live node'));
  const inbox = client.inbox(q)[Symbol.asyncIterator]();
  const got = await inbox.next();
  assert.equal(got.value?.id, sent.id);
  assert.equal(new TextDecoder().decode(got.value!.body), 'over the live node');
  await client.ack(q, [sent.id]);
  await inbox.return?.();
  assert.deepEqual(await new RelayClient({ url: relay.url }).receive(q), []);
  assert.equal(client.url, relay.url, 'the client stays on the node that answers');
});

test('latch pair --server with several nodes stores them all; a stored pairing with one URL (the old format) still loads', async () => {
  const computer = tempDir('computer');
  // Not paired yet: pair fails fast once no authenticator answers, but the list is accepted and checked.
  const r = await latchRun(['pair', '--server', `${dead},${relay.url}`, '--uri-only', '--timeout', '1'], { home: computer });
  assert.match(r.stdout, /^latch:\/\/pair\?/m, r.stderr);
  assert.equal(decodeURIComponent(/[?&]r=([^&\s]+)/.exec(r.stdout)![1]!), `${dead},${relay.url}`);
  // An old computer.json: relayUrl is one URL.
  const sodium = await sodiumReady();
  const b64 = encodeBase64url;
  const box = sodium.crypto_box_keypair();
  const peer = sodium.crypto_box_keypair();
  const queue = sodium.crypto_sign_keypair();
  fs.writeFileSync(
    path.join(computer, 'computer.json'),
    JSON.stringify({
      v: 1,
      pairing: {
        deviceName: 'old phone', deviceId: 'd', sshKeys: [], relayUrl: relay.url,
        computerPublicKey: b64(box.publicKey), computerSecretKey: b64(box.privateKey),
        queuePublicKey: b64(queue.publicKey), queueSecretKey: b64(queue.privateKey),
        authenticatorPublicKey: b64(peer.publicKey), authenticatorQueue: queueIdFromPublicKey(sodium, sodium.crypto_sign_keypair().publicKey), pairedAt: 1,
      },
    }),
  );
  const status = await latchRun(['status', '--json'], { home: computer });
  assert.equal(status.code, 0, status.stderr);
  const out = JSON.parse(status.stdout) as { paired: boolean; relay: string; device: { name: string } };
  assert.deepEqual([out.paired, out.relay, out.device.name], [true, relay.url, 'old phone']);
});

test('latch server --relay-store: a URL that is not nats:// is a usage error; NATS that does not answer stops the start with relay_store_unreachable', async () => {
  const data = tempDir('server');
  const bad = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', data, '--relay-store', 'http://127.0.0.1:4222']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /must be nats:\/\/HOST:PORT/);
  const lonely = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', data, '--relay-replicas', '3']);
  assert.notEqual(lonely.code, 0);
  assert.match(lonely.stderr, /--relay-replicas goes with --relay-store/);
  const away = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', data, '--relay-store', `nats://127.0.0.1:${await freePort()}`]);
  assert.notEqual(away.code, 0);
  assert.match(away.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+/);
});
