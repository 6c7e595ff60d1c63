import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { parseClientFrame } from '../src/relay/relay-ws-frame.js';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets, type TestQueue } from './helpers/relay-keys.js';

let relay: RelayProcess;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off'] });
});
after(async () => {
  await relay.stop();
});

/** A WebSocket with a queue of received frames. */
async function open(): Promise<{ ws: WebSocket; next(): Promise<any>; send(v: unknown): void; close(): void }> {
  const ws = new WebSocket(relay.url.replace('http', 'ws') + '/v1/ws');
  const frames: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  ws.on('message', (data) => {
    const v = JSON.parse(String(data));
    const w = waiters.shift();
    if (w) w(v);
    else frames.push(v);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    next: () =>
      frames.length > 0
        ? Promise.resolve(frames.shift())
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('no frame within 10 s')), 10_000);
            waiters.push((v) => {
              clearTimeout(t);
              resolve(v);
            });
          }),
    send: (v) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
    close: () => ws.close(),
  };
}

const subscribe = (q: TestQueue, ts?: number) => ({ op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}`, ts) });
const post = (q: TestQueue, text: string) =>
  fetch(`${relay.url}/v1/queues/${q.id}/messages`, {
    method: 'POST',
    body: octets(text) as BodyInit,
    headers: { 'content-type': 'application/octet-stream' },
  }).then((r) => r.json() as Promise<{ id: string }>);

test('subscribe, then a wake for each stored message', async () => {
  const c = await open();
  try {
    const q = await newQueue();
    c.send(subscribe(q));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id });
    await post(q, 'hello');
    assert.deepEqual(await c.next(), { op: 'wake', queue: q.id });
    await post(q, 'again');
    assert.deepEqual(await c.next(), { op: 'wake', queue: q.id });
  } finally {
    c.close();
  }
});

test('a wake right after subscribing when the queue already holds messages; many queues on one socket', async () => {
  const c = await open();
  try {
    const full = await newQueue();
    const empty = await newQueue();
    await post(full, 'waiting');
    c.send(subscribe(empty));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: empty.id });
    c.send(subscribe(full));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: full.id });
    assert.deepEqual(await c.next(), { op: 'wake', queue: full.id });
    await post(empty, 'now');
    assert.deepEqual(await c.next(), { op: 'wake', queue: empty.id });
    c.send({ op: 'unsubscribe', queue: empty.id });
    assert.deepEqual(await c.next(), { op: 'unsubscribed', queue: empty.id });
    await post(empty, 'unheard');
    await post(full, 'heard');
    assert.deepEqual(await c.next(), { op: 'wake', queue: full.id }, 'no wake for the unsubscribed queue');
  } finally {
    c.close();
  }
});

test('subscribing without a valid proof is refused with one message; the socket stays usable', async () => {
  const c = await open();
  try {
    const q = await newQueue();
    const other = await newQueue();
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      { op: 'subscribe', queue: q.id, auth: other.proof('SUBSCRIBE', `/v1/queues/${q.id}`) },
      { op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}`, now - 400) },
      { op: 'subscribe', queue: q.id, auth: q.proof('GET', `/v1/queues/${q.id}`) },
      { op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}/messages`) },
      { op: 'subscribe', queue: q.id, auth: 'v1 x 1 y' },
    ];
    for (const frame of bad) {
      c.send(frame);
      assert.deepEqual(await c.next(), { op: 'error', queue: q.id, code: 'unauthorized', message: 'relay authentication failed' });
    }
    await post(q, 'not for you');
    c.send(subscribe(q));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id }, 'no wake leaked to the failed subscriptions');
    assert.deepEqual(await c.next(), { op: 'wake', queue: q.id });
  } finally {
    c.close();
  }
});

test('garbage frames get bad_frame and the connection stays', async () => {
  const c = await open();
  try {
    const q = await newQueue();
    const garbage = ['', 'not json', '[]', 'null', '{"op":"dance"}', '{"op":"subscribe"}', '{"op":"subscribe","queue":"x","auth":"y"}',
      JSON.stringify({ ...subscribe(q), extra: 1 }), '{"op":"subscribe","queue":5,"auth":null}', '\u0000\uffff'];
    for (const g of garbage) {
      c.send(g);
      const f = await c.next();
      assert.equal(f.op, 'error', g);
      assert.equal(f.code, 'bad_frame', g);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await c.next()).code, 'bad_frame');
    c.send(subscribe(q));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id });
  } finally {
    c.close();
  }
});

test('at most 1000 subscriptions per connection', async () => {
  const c = await open();
  try {
    const queues = await Promise.all(Array.from({ length: 1001 }, () => newQueue()));
    for (const q of queues) c.send(subscribe(q));
    let subscribed = 0;
    let refused: any;
    for (let i = 0; i < 1001; i++) {
      const f = await c.next();
      if (f.op === 'subscribed') subscribed++;
      else refused = f;
    }
    assert.equal(subscribed, 1000);
    assert.equal(refused.code, 'too_many_subscriptions');
  } finally {
    c.close();
  }
});

test('fuzz: the frame parser never throws and accepts only exact frames', () => {
  const queue = 'AAAAAAAAAAAAAAAAAAAAAA';
  const valid = [JSON.stringify({ op: 'subscribe', queue, auth: 'v1 a 1 b' }), JSON.stringify({ op: 'unsubscribe', queue })];
  const mutated = fc
    .tuple(fc.constantFrom(...valid), fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 }))
    .map(([v, i, s, del]) => v.slice(0, i % v.length) + s + v.slice((i % v.length) + del));
  const inputs = fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' }), mutated);
  fc.assert(
    fc.property(inputs, (text) => {
      const r = parseClientFrame(text);
      if (r.ok) {
        // Whatever is accepted is exactly one of the two shapes, with a valid queue id.
        const keys = Object.keys(JSON.parse(text)).sort().join();
        assert.ok(keys === 'auth,op,queue' || keys === 'op,queue', keys);
        assert.match(r.frame.queue, /^[A-Za-z0-9_-]{21}[AQgw]$/);
      }
    }),
    { numRuns: 5000 },
  );
});

test('fuzz: random frames over a live socket never break the relay', async () => {
  const c = await open();
  try {
    const frames = fc.sample(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 100 })), 300);
    for (const f of frames) c.send(f);
    for (let i = 0; i < frames.length; i++) {
      const f = await c.next();
      assert.equal(f.op, 'error');
    }
    const q = await newQueue();
    c.send(subscribe(q));
    assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id });
    assert.equal((await fetch(relay.url + '/v1/health')).status, 200);
  } finally {
    c.close();
  }
});
