/**
 * Protocol 2 of `/v1/ws` (PROTOCOL.md §3.5): sends with client message ids, `deliver` frames
 * that carry the body, batched acks; protocol 4's binary send and deliver frames (§3.5.1); and
 * what the relay does with bad input on them. Against a
 * real relay process (`latch server`).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBase64url } from '../src/protocol/base64url.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { signRelayProof } from '../src/relay/relay-proof.js';
import { encodeBinarySend, parseBinaryServerFrame } from '../src/relay/relay-ws-binary-frame.js';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets, type TestQueue } from './helpers/relay-keys.js';
import { openWsClient } from './helpers/ws-test-client.js';

let relay: RelayProcess;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off', '--max-message-bytes', '1024'] });
});
after(async () => {
  await relay.stop();
});

const open = (url = relay.url) => openWsClient(url);

const subscribe = (q: TestQueue) => ({ op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}`), deliver: true });
const sendFrame = (q: TestQueue, cid: string, text: string) => ({ op: 'send', queue: q.id, cid, body: encodeBase64url(octets(text)) });

async function list(q: TestQueue, url = relay.url): Promise<{ id: string; body: string }[]> {
  const path = `/v1/queues/${q.id}/messages`;
  const r = await fetch(`${url}${path}`, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { messages: { id: string; body: string }[] }).messages;
}

/** Acks over HTTP, with a proof over the exact body (§3.2). */
async function httpAck(q: TestQueue, ids: string[], url = relay.url): Promise<number> {
  const sodium = await sodiumReady();
  const path = `/v1/queues/${q.id}/ack`;
  const body = octets(JSON.stringify({ ids }));
  const auth = signRelayProof(sodium, q, 'POST', path, Math.floor(Date.now() / 1000), body);
  const r = await fetch(`${url}${path}`, { method: 'POST', body: body as BodyInit, headers: { 'latch-auth': auth, 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { acked: number }).acked;
}

test('send over the socket: "stored" with the id; a retried send (same cid) is stored once, even after its ack', async () => {
  const c = await open();
  try {
    const q = await newQueue();
    const cid = 'cid-aaaaaaaaaaaaaaaa';
    c.send(sendFrame(q, cid, 'hello'));
    const first = await c.next();
    assert.equal(first.op, 'stored');
    assert.equal(first.cid, cid);
    c.send(sendFrame(q, cid, 'hello'));
    assert.deepEqual(await c.next(), { op: 'stored', cid, id: first.id });
    // The same cid in another queue is another message.
    const other = await newQueue();
    c.send(sendFrame(other, cid, 'hello'));
    assert.notEqual((await c.next()).id, first.id);
    assert.deepEqual((await list(q)).map((m) => m.id), [first.id]);
    // Acked, then retried once more: still stored once.
    assert.equal(await httpAck(q, [first.id]), 1);
    c.send(sendFrame(q, cid, 'hello'));
    assert.deepEqual(await c.next(), { op: 'stored', cid, id: first.id });
    assert.deepEqual(await list(q), []);
  } finally {
    c.close();
  }
});

test('deliver: pending messages after subscribing, then each new one with its body; batched acks across queues', async () => {
  const reader = await open();
  const writer = await open();
  try {
    const a = await newQueue();
    const b = await newQueue();
    writer.send(sendFrame(a, 'w1aaaaaaaaaaaaaaaa', 'first'));
    const s1 = await writer.next();
    reader.send(subscribe(a));
    assert.deepEqual(await reader.next(), { op: 'subscribed', queue: a.id });
    const d1 = await reader.next();
    assert.ok(Math.abs(d1.received_at - Date.now() / 1000) < 600);
    assert.deepEqual(d1, { op: 'deliver', queue: a.id, id: s1.id, body: encodeBase64url(octets('first')), received_at: d1.received_at });
    reader.send(subscribe(b));
    assert.deepEqual(await reader.next(), { op: 'subscribed', queue: b.id });
    // New messages, over the socket and over HTTP, are pushed as they are stored.
    writer.send(sendFrame(b, 'w2aaaaaaaaaaaaaaaa', 'second'));
    const s2 = await writer.next();
    const d2 = await reader.next();
    assert.deepEqual([d2.op, d2.queue, d2.id, d2.body], ['deliver', b.id, s2.id, encodeBase64url(octets('second'))]);
    const posted = await fetch(`${relay.url}/v1/queues/${a.id}/messages`, {
      method: 'POST',
      body: octets('third') as BodyInit,
      headers: { 'content-type': 'application/octet-stream' },
    }).then((r) => r.json() as Promise<{ id: string }>);
    const d3 = await reader.next();
    assert.deepEqual([d3.op, d3.queue, d3.id, d3.body], ['deliver', a.id, posted.id, encodeBase64url(octets('third'))]);
    // One ack frame for both queues; an id of another queue is not deleted through this one.
    reader.send({ op: 'ack', ref: 'batch1', acks: { [a.id]: [s1.id, posted.id, s2.id], [b.id]: [s2.id] } });
    assert.deepEqual(await reader.next(), { op: 'acked', ref: 'batch1', acked: 3 });
    assert.deepEqual(await list(a), []);
    assert.deepEqual(await list(b), []);
    // Subscribing again starts over from the oldest unacked message.
    writer.send(sendFrame(a, 'w3aaaaaaaaaaaaaaaa', 'fourth'));
    const s4 = await writer.next();
    assert.equal((await reader.next()).id, s4.id);
    reader.send(subscribe(a));
    assert.deepEqual(await reader.next(), { op: 'subscribed', queue: a.id });
    assert.equal((await reader.next()).id, s4.id, 'unacked message delivered again after a new subscribe');
  } finally {
    reader.close();
    writer.close();
  }
});

test('acks need a subscription on the same socket; a socket that did not prove ownership cannot delete', async () => {
  const owner = await open();
  const stranger = await open();
  try {
    const q = await newQueue();
    stranger.send(sendFrame(q, 'x1aaaaaaaaaaaaaaaa', 'keep me'));
    const s = await stranger.next();
    stranger.send({ op: 'ack', ref: 'steal', acks: { [q.id]: [s.id] } });
    assert.deepEqual(await stranger.next(), {
      op: 'error',
      code: 'not_subscribed',
      message: 'subscribe to a queue on this socket before acking it here',
      queue: q.id,
      ref: 'steal',
    });
    owner.send(subscribe(q));
    assert.equal((await owner.next()).op, 'subscribed');
    assert.equal((await owner.next()).id, s.id);
    assert.deepEqual((await list(q)).map((m) => m.id), [s.id]);
  } finally {
    owner.close();
    stranger.close();
  }
});

test('bad send and ack frames get an error frame with a stable code; an oversized frame closes with 1009; others are served', async () => {
  const c = await open();
  const bystander = await open();
  try {
    const q = await newQueue();
    const cid = 'bad-aaaaaaaaaaaaaaa';
    const cases: [unknown, string][] = [
      [{ op: 'send', queue: q.id, cid, body: '' }, 'empty_message'],
      [{ op: 'send', queue: q.id, cid, body: encodeBase64url(new Uint8Array(1025)) }, 'message_too_large'],
      [{ op: 'send', queue: q.id, cid, body: 'aGVsbG9' }, 'bad_frame'], // not canonical base64url
      [{ op: 'send', queue: q.id, cid: 'short', body: 'aGVsbG8' }, 'bad_frame'],
      [{ op: 'send', queue: 'nope', cid, body: 'aGVsbG8' }, 'bad_frame'],
      [{ op: 'send', queue: q.id, cid, body: 'aGVsbG8', extra: 1 }, 'bad_frame'],
      [{ op: 'ack', ref: 'r', acks: {} }, 'bad_frame'],
      [{ op: 'ack', ref: 'r', acks: { [q.id]: ['01'] } }, 'bad_frame'],
      [{ op: 'ack', ref: 'r', acks: { [q.id]: Array.from({ length: 1001 }, (_, i) => String(i + 1)) } }, 'bad_frame'],
      [{ op: 'ack', ref: '', acks: { [q.id]: ['1'] } }, 'bad_frame'],
      [{ op: 'deliver', queue: q.id }, 'bad_frame'],
    ];
    for (const [frame, code] of cases) {
      c.send(frame);
      const f = await c.next();
      assert.equal(f.op, 'error', JSON.stringify(frame));
      assert.equal(f.code, code, JSON.stringify(frame));
    }
    // A frame past the largest send the relay accepts closes this socket only.
    c.ws.send('x'.repeat(65536 + 1));
    assert.equal(await c.closed, 1009);
    bystander.send(sendFrame(q, 'by-aaaaaaaaaaaaaaaa', 'still here'));
    assert.equal((await bystander.next()).op, 'stored');
  } finally {
    c.close();
    bystander.close();
  }
});

test('binary frames (protocol 4, §3.5.1): a binary send is stored once per cid, whichever encoding retries it; binary subscriptions get binary delivers, others JSON', async () => {
  const writer = await open();
  const binaryReader = await open();
  const jsonReader = await open();
  try {
    const q = await newQueue();
    binaryReader.send({ ...subscribe(q), binary: true });
    assert.deepEqual(await binaryReader.next(), { op: 'subscribed', queue: q.id });
    jsonReader.send(subscribe(q));
    assert.deepEqual(await jsonReader.next(), { op: 'subscribed', queue: q.id });
    const body = new Uint8Array(1024).map((_, i) => (i * 7) & 0xff); // the largest this relay takes
    const cid = 'bin-aaaaaaaaaaaaaaaa';
    writer.send(encodeBinarySend({ queue: q.id, cid, body }));
    const stored = await writer.next();
    assert.equal(stored.op, 'stored');
    assert.equal(stored.cid, cid);
    const raw = await binaryReader.next();
    assert.ok(raw.binary instanceof Buffer, 'a binary frame');
    const d = parseBinaryServerFrame(raw.binary);
    assert.ok(d);
    assert.deepEqual([d.queue, d.id, Buffer.from(d.body).equals(Buffer.from(body))], [q.id, stored.id, true]);
    assert.ok(Math.abs(d.receivedAt - Date.now() / 1000) < 60);
    const j = await jsonReader.next();
    assert.deepEqual({ ...j, received_at: 0 }, { op: 'deliver', queue: q.id, id: stored.id, body: encodeBase64url(body), received_at: 0 });
    // A retry, binary or JSON, is the same message.
    writer.send(encodeBinarySend({ queue: q.id, cid, body }));
    assert.deepEqual(await writer.next(), { op: 'stored', cid, id: stored.id });
    writer.send({ op: 'send', queue: q.id, cid, body: encodeBase64url(body) });
    assert.deepEqual(await writer.next(), { op: 'stored', cid, id: stored.id });
    assert.deepEqual((await list(q)).map((m) => m.id), [stored.id]);
    // Subscribing again without `binary` turns this subscription's deliveries back to JSON.
    binaryReader.send(subscribe(q));
    assert.deepEqual(await binaryReader.next(), { op: 'subscribed', queue: q.id });
    assert.equal((await binaryReader.next()).op, 'deliver');
  } finally {
    writer.close();
    binaryReader.close();
    jsonReader.close();
  }
});

test('bad binary frames get an error frame with a stable code (queue and cid echoed when readable); an oversized one closes with 1009; others are served', async () => {
  const c = await open();
  const bystander = await open();
  try {
    const q = await newQueue();
    const cid = 'binbad-aaaaaaaaaaaa';
    const good = Buffer.from(encodeBinarySend({ queue: q.id, cid, body: octets('x') }));
    // [frame, code, what the error echoes]
    const cases: [Uint8Array, string, 'nothing' | 'queue' | 'queue and cid'][] = [
      [new Uint8Array(0), 'bad_frame', 'nothing'],
      [Buffer.from([1, 2, 3]), 'bad_frame', 'nothing'],
      [Buffer.concat([Buffer.from([2]), good.subarray(1)]), 'bad_frame', 'nothing'], // the relay's deliver type
      [Buffer.concat([Buffer.from([9]), good.subarray(1)]), 'bad_frame', 'nothing'],
      [good.subarray(0, 20), 'bad_frame', 'queue'], // cid cut short
      [good.subarray(0, good.length - 1), 'empty_message', 'queue and cid'],
      [Buffer.concat([good.subarray(0, good.length - 1), Buffer.alloc(1025)]), 'message_too_large', 'queue and cid'],
    ];
    for (const [frame, code, echo] of cases) {
      c.send(frame);
      const f = await c.next();
      assert.equal(f.op, 'error', code);
      assert.equal(f.code, code);
      assert.equal(f.queue, echo === 'nothing' ? undefined : q.id, code);
      assert.equal(f.cid, echo === 'queue and cid' ? cid : undefined, code);
    }
    c.send(good);
    assert.equal((await c.next()).op, 'stored', 'the socket still serves');
    c.ws.send(new Uint8Array(65536 + 1));
    assert.equal(await c.closed, 1009);
    bystander.send(encodeBinarySend({ queue: q.id, cid: 'binby-aaaaaaaaaaaaa', body: octets('still here') }));
    assert.equal((await bystander.next()).op, 'stored');
  } finally {
    c.close();
    bystander.close();
  }
});

test('a closed queue refuses sends over the socket with queue_closed', async () => {
  const c = await open();
  try {
    const q = await newQueue();
    const sodium = await sodiumReady();
    const path = `/v1/queues/${q.id}/close`;
    const body = octets('{}');
    const auth = signRelayProof(sodium, q, 'POST', path, Math.floor(Date.now() / 1000), body);
    const r = await fetch(`${relay.url}${path}`, { method: 'POST', body: body as BodyInit, headers: { 'latch-auth': auth, 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    c.send(sendFrame(q, 'cl-aaaaaaaaaaaaaaaa', 'too late'));
    const f = await c.next();
    assert.deepEqual([f.op, f.code, f.cid, f.queue], ['error', 'queue_closed', 'cl-aaaaaaaaaaaaaaaa', q.id]);
  } finally {
    c.close();
  }
});

test('sends over the socket are charged to the per-IP request bucket that HTTP sends use (§3.4)', async () => {
  const own = await startRelayProcess({ args: ['--rate-limit', '1/20'] });
  try {
    const c = await open(own.url);
    const q = await newQueue();
    // Every other one binary (protocol 4, §3.5.1): both encodings are charged alike.
    for (let i = 0; i < 40; i++) {
      const cid = `rl-${String(i).padStart(16, '0')}`;
      c.send(i % 2 === 0 ? sendFrame(q, cid, 'x') : encodeBinarySend({ queue: q.id, cid, body: octets('x') }));
    }
    let stored = 0;
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      const f = await c.next();
      if (f.op === 'stored') stored++;
      else if (f.code === 'rate_limited') limited++;
    }
    assert.ok(stored <= 20 && stored >= 15, `stored ${stored}`); // the upgrade took one token; refill is 1/s
    assert.equal(stored + limited, 40);
    // The HTTP bucket is the same one: it is empty too.
    const r = await fetch(`${own.url}/v1/queues/${q.id}/messages`, { method: 'POST', body: 'y', headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 429);
    c.close();
  } finally {
    await own.stop();
  }
});

test('a reader that stops reading: deliveries wait while its socket is full, then every message comes once, in order (§3.5)', async () => {
  // Its own relay, at the default 64 KiB limit: 300 messages of 60 KiB are ~24 MB of deliver
  // frames, far more than the 1 MiB the relay lets queue on a socket plus loopback's buffers.
  const big = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  const reader = await open(big.url);
  const writer = await open(big.url);
  try {
    const q = await newQueue();
    reader.send(subscribe(q));
    assert.equal((await reader.next()).op, 'subscribed');
    reader.ws.pause(); // stops reading the socket: what the relay writes piles up
    const N = 300;
    const bodyOf = (i: number) => {
      const b = new Uint8Array(60 * 1024).fill(i % 251);
      new DataView(b.buffer).setUint32(0, i);
      return b;
    };
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      writer.send({ op: 'send', queue: q.id, cid: `slow${String(i).padStart(12, '0')}`, body: encodeBase64url(bodyOf(i)) });
      const s = await writer.next();
      assert.equal(s.op, 'stored', JSON.stringify(s));
      ids.push(s.id);
    }
    await new Promise((r) => setTimeout(r, 300));
    reader.ws.resume();
    for (let i = 0; i < N; i++) {
      const d = await reader.next();
      assert.equal(d.op, 'deliver');
      assert.equal(d.id, ids[i], `delivery ${i}`);
      assert.equal(d.body, encodeBase64url(bodyOf(i)));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(reader.frames, [], 'nothing more: each message once');
  } finally {
    reader.close();
    writer.close();
    await big.stop();
  }
});
