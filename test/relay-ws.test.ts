import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { parseClientFrame } from '../src/relay/relay-ws-frame.js';
import { encodeBinaryDeliver, encodeBinarySend, parseBinaryClientFrame, parseBinaryServerFrame } from '../src/relay/relay-ws-binary-frame.js';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets, type TestQueue } from './helpers/relay-keys.js';
import { openWsClient } from './helpers/ws-test-client.js';

let relay: RelayProcess;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off'] });
});
after(async () => {
  await relay.stop();
});

const open = () => openWsClient(relay.url, 65536);

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
  const valid = [
    JSON.stringify({ op: 'subscribe', queue, auth: 'v1 a 1 b' }),
    JSON.stringify({ op: 'subscribe', queue, auth: 'v1 a 1 b', deliver: true }),
    JSON.stringify({ op: 'unsubscribe', queue }),
    JSON.stringify({ op: 'send', queue, cid: 'AAAAAAAAAAAAAAAAAAAAAA', body: 'aGVsbG8' }),
    JSON.stringify({ op: 'ack', ref: 'r1', acks: { [queue]: ['1', '22'] } }),
  ];
  const mutated = fc
    .tuple(fc.constantFrom(...valid), fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 }))
    .map(([v, i, s, del]) => v.slice(0, i % v.length) + s + v.slice((i % v.length) + del));
  const inputs = fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' }), mutated);
  fc.assert(
    fc.property(inputs, (text) => {
      const r = parseClientFrame(text);
      if (r.ok) {
        // Whatever is accepted is exactly one of the shapes, with valid queue ids.
        const keys = Object.keys(JSON.parse(text)).sort().join();
        assert.ok(['auth,op,queue', 'auth,deliver,op,queue', 'op,queue', 'body,cid,op,queue', 'acks,op,ref'].includes(keys), keys);
        const queues = r.frame.op === 'ack' ? [...r.frame.acks.keys()] : [r.frame.queue];
        for (const q of queues) assert.match(q, /^[A-Za-z0-9_-]{21}[AQgw]$/);
        if (r.frame.op === 'send') assert.ok(r.frame.body.length > 0);
      } else {
        assert.ok(['bad_frame', 'empty_message', 'message_too_large'].includes(r.code));
      }
    }),
    { numRuns: 5000 },
  );
});

/** Sends each frame, expects an error frame for each, then that the socket and the relay still serve. */
async function eachAnErrorThenServing(c: Awaited<ReturnType<typeof open>>, frames: (string | Uint8Array)[]): Promise<void> {
  for (const f of frames) c.send(f);
  for (let i = 0; i < frames.length; i++) assert.equal((await c.next()).op, 'error');
  const q = await newQueue();
  c.send(subscribe(q));
  assert.deepEqual(await c.next(), { op: 'subscribed', queue: q.id });
  assert.equal((await fetch(relay.url + '/v1/health')).status, 200);
}

test('fuzz: the binary frame parsers never throw; what they accept is the one encoding of what they return', () => {
  const queue = 'AAAAAAAAAAAAAAAAAAAAAA';
  const validSend = encodeBinarySend({ queue, cid: 'AAAAAAAAAAAAAAAAAAAAAA', body: new Uint8Array([104, 105]) });
  const validDeliver = encodeBinaryDeliver({ queue, id: '12', receivedAt: 1700000000, body: new Uint8Array([1]) });
  const mutate = (v: Uint8Array) =>
    fc
      .tuple(fc.nat(), fc.uint8Array({ maxLength: 3 }), fc.nat({ max: 3 }))
      .map(([i, ins, del]) => {
        const at = i % (v.length + 1);
        return Uint8Array.from([...v.subarray(0, at), ...ins, ...v.subarray(at + del)]);
      });
  const inputs = fc.oneof(fc.uint8Array({ maxLength: 120 }), mutate(validSend), mutate(validDeliver));
  fc.assert(
    fc.property(inputs, fc.integer({ min: 1, max: 70000 }), (bytes, max) => {
      const r = parseBinaryClientFrame(bytes, max);
      if (r.ok) {
        assert.deepEqual(encodeBinarySend(r.frame), bytes);
        assert.ok(r.frame.body.length >= 1 && r.frame.body.length <= max);
      } else assert.ok(['bad_frame', 'empty_message', 'message_too_large'].includes(r.code));
      const d = parseBinaryServerFrame(bytes);
      if (d !== undefined) assert.deepEqual(encodeBinaryDeliver(d), bytes);
    }),
    { numRuns: 5000 },
  );
});

test('fuzz: random binary frames over a live socket each get an error frame, and the relay keeps serving', async () => {
  const c = await open();
  try {
    // Not a valid send: the first byte is anything but 0x01, or the frame stops before a body.
    const frames = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 200 }).filter((b) => b[0] !== 1),
        fc.uint8Array({ maxLength: 18 }).map((b) => Uint8Array.from([1, ...b])),
      ),
      300,
    );
    await eachAnErrorThenServing(c, frames);
  } finally {
    c.close();
  }
});

test('fuzz: random frames over a live socket never break the relay', async () => {
  const c = await open();
  try {
    const frames = fc.sample(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 100 })), 300);
    await eachAnErrorThenServing(c, frames);
  } finally {
    c.close();
  }
});

/** Opens a socket on `url`; resolves with the HTTP status and error code if the upgrade is refused. */
function tryOpen(url: string): Promise<{ ws: WebSocket } | { status: number; code: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/v1/ws');
    // Resolved on the relay's first frame (`ready`, §3.5), so callers see only the replies to their frames.
    ws.once('message', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).error.code }));
    });
    ws.once('error', (e) => reject(e));
  });
}

/** Sends frames on a raw socket and collects the next `n` replies. */
function exchange(ws: WebSocket, frames: string[], n: number): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const out: any[] = [];
    const guard = setTimeout(() => reject(new Error(`only ${out.length} of ${n} replies within 60 s`)), 60_000);
    const onMessage = (data: unknown) => {
      out.push(JSON.parse(String(data)));
      if (out.length === n) {
        clearTimeout(guard);
        ws.off('message', onMessage);
        resolve(out);
      }
    };
    ws.on('message', onMessage);
    for (const f of frames) ws.send(f);
  });
}

test('per-client caps: subscriptions across sockets, sockets per client; long-polls are not starved by them (§3.3, §3.5)', async () => {
  const own = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  const sockets: WebSocket[] = [];
  try {
    // 10 sockets x the same 1000 queues: 10,000 subscriptions from one client if uncapped.
    const queues = await Promise.all(Array.from({ length: 1000 }, () => newQueue()));
    const frames = queues.map((q) => JSON.stringify(subscribe(q)));
    let subscribed = 0;
    let capped = 0;
    for (let i = 0; i < 10; i++) {
      const o = await tryOpen(own.url);
      assert.ok('ws' in o);
      sockets.push(o.ws);
      for (const f of await exchange(o.ws, frames, 1000)) {
        if (f.op === 'subscribed') subscribed++;
        else if (f.op === 'error' && f.code === 'too_many_subscriptions') capped++;
        else if (f.op !== 'wake') assert.fail(JSON.stringify(f));
      }
    }
    assert.equal(subscribed, 4000);
    assert.equal(capped, 6000);
    // Subscriptions do not count as waiting long-polls: a long-poll still waits and answers 200.
    const q = await newQueue();
    const path = `/v1/queues/${q.id}/messages`;
    const r = await fetch(`${own.url}${path}?wait=1`, { headers: { 'latch-auth': q.proof('GET', path) } });
    assert.deepEqual([r.status, await r.json()], [200, { messages: [] }]);
    // Up to 32 sockets per client; the 33rd upgrade is refused.
    while (sockets.length < 32) {
      const o = await tryOpen(own.url);
      assert.ok('ws' in o, JSON.stringify(o));
      sockets.push(o.ws);
    }
    assert.deepEqual(await tryOpen(own.url), { status: 429, code: 'too_many_connections' });
    // Closing a socket gives its slot and its subscriptions back.
    const closed = new Promise((resolve) => sockets[0]!.once('close', resolve));
    sockets.shift()!.close();
    await closed;
    let reopened: { ws: WebSocket } | { status: number; code: string } = { status: 0, code: '' };
    for (let i = 0; i < 50 && !('ws' in reopened); i++) {
      reopened = await tryOpen(own.url); // the relay notices the close a moment after the client
      if (!('ws' in reopened)) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok('ws' in reopened, JSON.stringify(reopened));
    sockets.push(reopened.ws);
    const again = await exchange(reopened.ws, [JSON.stringify(subscribe(queues[0]!))], 1);
    assert.deepEqual(again[0], { op: 'subscribed', queue: queues[0]!.id });
  } finally {
    for (const ws of sockets) ws.close();
    await own.stop();
  }
});

test('forged subscribes: frames share one bucket per client across sockets, and auth-failure logging is throttled (§3.4)', async () => {
  const own = await startRelayProcess({ args: ['--rate-limit', '100/200'] });
  const sockets: WebSocket[] = [];
  try {
    const q = await newQueue();
    const other = await newQueue();
    const forged = JSON.stringify({ op: 'subscribe', queue: q.id, auth: other.proof('SUBSCRIBE', `/v1/queues/${q.id}`) });
    for (let i = 0; i < 4; i++) {
      const o = await tryOpen(own.url);
      assert.ok('ws' in o);
      sockets.push(o.ws);
    }
    // 4 x 600 frames: each socket alone stays under a 1100 burst, together they do not.
    const replies = (await Promise.all(sockets.map((ws) => exchange(ws, Array(600).fill(forged), 600)))).flat();
    const codes = new Map<string, number>();
    for (const f of replies) codes.set(f.code, (codes.get(f.code) ?? 0) + 1);
    assert.deepEqual([...codes.keys()].sort(), ['rate_limited', 'unauthorized'], JSON.stringify([...codes]));
    assert.ok(codes.get('rate_limited')! > 0, 'per-socket buckets would have let all 2400 through');
    // Hundreds of failed proofs, but only a bounded number of log lines and a note that more were suppressed.
    const deadline = Date.now() + 10_000;
    while (!/further lines suppressed/.test(own.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = own.stderr().split('\n').filter((l) => /auth failed: SUBSCRIBE/.test(l));
    assert.ok(lines.length > 0 && lines.length <= 20, `${lines.length} auth-failure lines`);
    assert.match(own.stderr(), /auth failed from .*: 20 lines in 60 s; further lines suppressed/);
  } finally {
    for (const ws of sockets) ws.close();
    await own.stop();
  }
});
