import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets } from './helpers/relay-keys.js';
import { decodeBase64url } from '../src/protocol/base64url.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { signRelayProof } from '../src/relay/relay-proof.js';
import type { TestQueue } from './helpers/relay-keys.js';

const sodium = await sodiumReady();
/** A proof over METHOD, PATHNAME and the exact body bytes (PROTOCOL.md §3.2); strings are sent as UTF-8. */
function bodyProof(q: TestQueue, method: string, pathname: string, body: string | Uint8Array = '', ts = Math.floor(Date.now() / 1000)): string {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return signRelayProof(sodium, q, method, pathname, ts, bytes);
}

let relay: RelayProcess;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off'] });
});
after(async () => {
  await relay.stop();
});

async function call(
  method: string,
  path: string,
  o: { body?: Uint8Array | string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const init: RequestInit = { method, headers: o.headers ?? {} };
  if (o.body !== undefined) init.body = o.body as BodyInit;
  const res = await fetch(relay.url + path, init);
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

const BIN = { 'content-type': 'application/octet-stream' };

function assertError(r: { status: number; json: any }, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
}

async function healthy(): Promise<void> {
  const r = await call('GET', '/v1/health');
  assert.deepEqual(r.json, { ok: true, service: 'latch-relay', protocol: 4 });
}

test('health', healthy);

test('send, receive in order, ack; acked messages are gone and ack is idempotent', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const ids: string[] = [];
  for (const text of ['one', 'two', 'three']) {
    const r = await call('POST', path, { body: octets(text), headers: BIN });
    assert.equal(r.status, 201);
    assert.match(r.json.id, /^[1-9][0-9]*$/);
    ids.push(r.json.id);
  }
  const got = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.equal(got.status, 200);
  assert.deepEqual(got.json.messages.map((m: any) => m.id), ids);
  assert.deepEqual(got.json.messages.map((m: any) => new TextDecoder().decode(decodeBase64url(m.body))), ['one', 'two', 'three']);
  for (const m of got.json.messages) assert.ok(Math.abs(m.received_at - Date.now() / 1000) < 600);
  const page = await call('GET', `${path}?limit=1&after=${ids[0]}`, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(page.json.messages.map((m: any) => m.id), [ids[1]]);
  const ackPath = `/v1/queues/${q.id}/ack`;
  const ackBody = JSON.stringify({ ids: ids.slice(0, 2) });
  const ack = await call('POST', ackPath, { body: ackBody, headers: { 'latch-auth': bodyProof(q, 'POST', ackPath, ackBody) } });
  assert.deepEqual([ack.status, ack.json], [200, { acked: 2 }]);
  const againBody = JSON.stringify({ ids: [ids[0], '424242'] });
  const again = await call('POST', ackPath, { body: againBody, headers: { 'latch-auth': bodyProof(q, 'POST', ackPath, againBody) } });
  assert.deepEqual([again.status, again.json], [200, { acked: 0 }]);
  const rest = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(rest.json.messages.map((m: any) => m.id), [ids[2]]);
});

test('a long-poll is answered by a message that arrives while it waits', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const poll = call('GET', `${path}?wait=30`, { headers: { 'latch-auth': q.proof('GET', path) } });
  await new Promise((r) => setTimeout(r, 300));
  const sent = await call('POST', path, { body: octets('wake up'), headers: BIN });
  const r = await poll;
  // Had the wake been missed, the poll would have run out its 30 s and answered [].
  assert.deepEqual(r.json.messages.map((m: any) => m.id), [sent.json.id]);
  const empty = await call('GET', `/v1/queues/${(await newQueue()).id}/messages?wait=1`, {
    headers: { 'latch-auth': q.proof('GET', path) },
  });
  assertError(empty, 401, 'unauthorized');
});

test('an empty long-poll ends after its wait with an empty list', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const r = await call('GET', `${path}?wait=1`, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual([r.status, r.json], [200, { messages: [] }]);
});

test('read, ack and close need a valid proof for that queue, method and path', async () => {
  const q = await newQueue();
  const other = await newQueue();
  const now = Math.floor(Date.now() / 1000);
  await call('POST', `/v1/queues/${q.id}/messages`, { body: octets('secret'), headers: BIN });
  const routes: [string, string, string | undefined][] = [
    ['GET', `/v1/queues/${q.id}/messages`, undefined],
    ['POST', `/v1/queues/${q.id}/ack`, '{"ids":["1"]}'],
    ['POST', `/v1/queues/${q.id}/close`, '{}'],
  ];
  for (const [method, path, body] of routes) {
    const sig = q.proof(method, path, now);
    const [v, pk, ts, s] = sig.split(' ') as [string, string, string, string];
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const bad: [string, Record<string, string>][] = [
      ['missing', {}],
      ['wrong key', { 'latch-auth': other.proof(method, path, now) }],
      ['stale', { 'latch-auth': q.proof(method, path, now - 400) }],
      ['future', { 'latch-auth': q.proof(method, path, now + 400) }],
      ['bad sig', { 'latch-auth': `${v} ${pk} ${ts} ${flipped}` }],
      ['other queue', { 'latch-auth': other.proof(method, path.replace(q.id, other.id), now) }],
      ['other path', { 'latch-auth': q.proof(method, `/v1/queues/${q.id}/elsewhere`, now) }],
      ['other method', { 'latch-auth': q.proof(method === 'GET' ? 'POST' : 'GET', path, now) }],
      ['garbage', { 'latch-auth': 'v1 !!! 1 ???' }],
      ['version', { 'latch-auth': sig.replace(/^v1/, 'v9') }],
    ];
    const messages = new Set<string>();
    for (const [why, headers] of bad) {
      const r = await call(method, path, body === undefined ? { headers } : { headers, body });
      assertError(r, 401, 'unauthorized');
      messages.add(r.json.error.message);
      assert.ok(why);
    }
    assert.deepEqual([...messages], ['relay authentication failed'], 'one undifferentiated message');
  }
  // Nothing was read, acked or closed by the failures.
  const path = `/v1/queues/${q.id}/messages`;
  const r = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.equal(r.json.messages.length, 1);
  assert.equal((await call('POST', path, { body: octets('x'), headers: BIN })).status, 201);
  assert.match(relay.stderr(), /auth failed: .*bad signature/);
});

test('message size: 65536 bytes accepted, 65537 rejected with 413 (declared and chunked)', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  assert.equal((await call('POST', path, { body: new Uint8Array(65536).fill(7), headers: BIN })).status, 201);
  assertError(await call('POST', path, { body: new Uint8Array(65537), headers: BIN }), 413, 'message_too_large');
  // Chunked: no Content-Length, so the limit is enforced while streaming.
  const chunked = await new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = request(relay.url + path, { method: 'POST', headers: { ...BIN, 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 5; i++) req.write(new Uint8Array(20000));
    req.end();
  });
  assertError(chunked, 413, 'message_too_large');
  const list = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.equal(list.json.messages.length, 1, 'only the 65536-byte message was stored');
  await healthy();
});

test('bad sends: empty body, wrong content type, bad queue id', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  assertError(await call('POST', path, { body: new Uint8Array(0), headers: BIN }), 400, 'empty_message');
  assertError(await call('POST', path, { body: 'hi', headers: { 'content-type': 'text/plain' } }), 415, 'bad_content_type');
  assertError(await call('POST', path, { body: octets('hi') }), 415, 'bad_content_type');
  for (const id of ['short', 'AAAAAAAAAAAAAAAAAAAAAB', 'AAAAAAAAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAAAAA+A', '%41AAAAAAAAAAAAAAAAAAAAA']) {
    assertError(await call('POST', `/v1/queues/${id}/messages`, { body: octets('hi'), headers: BIN }), 400, 'bad_queue_id');
  }
});

test('close: later sends get 410; remaining messages can still be read and acked', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const sent = await call('POST', path, { body: octets('last'), headers: BIN });
  const closePath = `/v1/queues/${q.id}/close`;
  const c = await call('POST', closePath, { body: '{"reason":"paired"}', headers: { 'latch-auth': bodyProof(q, 'POST', closePath, '{"reason":"paired"}') } });
  assert.deepEqual([c.status, c.json], [200, { closed: true }]);
  const c2 = await call('POST', closePath, { headers: { 'latch-auth': q.proof('POST', closePath) } });
  assert.deepEqual([c2.status, c2.json], [200, { closed: true }], 'close without a body, twice, is fine');
  assertError(await call('POST', path, { body: octets('late'), headers: BIN }), 410, 'queue_closed');
  const list = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(list.json.messages.map((m: any) => m.id), [sent.json.id]);
  const ackPath = `/v1/queues/${q.id}/ack`;
  const ackBody = JSON.stringify({ ids: [sent.json.id] });
  const ack = await call('POST', ackPath, { body: ackBody, headers: { 'latch-auth': bodyProof(q, 'POST', ackPath, ackBody) } });
  assert.deepEqual(ack.json, { acked: 1 });
});

test('malformed requests get their codes and the relay keeps serving', async () => {
  const q = await newQueue();
  const m = `/v1/queues/${q.id}/messages`;
  const ackPath = `/v1/queues/${q.id}/ack`;
  const closePath = `/v1/queues/${q.id}/close`;
  const get = (query: string) => call('GET', m + query, { headers: { 'latch-auth': q.proof('GET', m) } });
  const ack = (body: string) => call('POST', ackPath, { body, headers: { 'latch-auth': bodyProof(q, 'POST', ackPath, body) } });
  assertError(await call('GET', '/v1/nope'), 404, 'not_found');
  assertError(await call('GET', '/'), 404, 'not_found');
  assertError(await call('GET', `/v1/queues/${q.id}/other`), 404, 'not_found');
  assertError(await call('GET', `/v1/queues/${q.id}`), 404, 'not_found');
  assertError(await call('PUT', m), 405, 'method_not_allowed');
  assertError(await call('GET', ackPath), 405, 'method_not_allowed');
  assertError(await call('DELETE', closePath), 405, 'method_not_allowed');
  assertError(await call('POST', '/v1/health'), 405, 'method_not_allowed');
  assertError(await call('GET', '/v1/ws'), 426, 'upgrade_required');
  for (const query of ['?wait=31', '?wait=-1', '?wait=abc', '?wait=01', '?limit=0', '?limit=101', '?limit=', '?after=01', '?after=x', '?foo=1', '?wait=1&wait=2']) {
    assertError(await get(query), 400, 'bad_request');
  }
  assert.equal((await get('?wait=0&limit=100&after=0')).status, 200);
  assertError(await ack('{"ids":'), 400, 'bad_json');
  assertError(await ack('\xff'), 400, 'bad_json');
  for (const body of ['[]', '{}', '{"ids":"1"}', '{"ids":[1]}', '{"ids":["01"]}', '{"ids":["1"],"x":1}', '{"ids":["99999999999999999999"]}', 'null', '7']) {
    assertError(await ack(body), 400, 'bad_request');
  }
  assertError(await call('POST', closePath, { body: '{"reason":5}', headers: { 'latch-auth': bodyProof(q, 'POST', closePath, '{"reason":5}') } }), 400, 'bad_request');
  assertError(await call('POST', closePath, { body: '{nope', headers: { 'latch-auth': bodyProof(q, 'POST', closePath, '{nope') } }), 400, 'bad_json');
  await healthy();
});

test('huge headers get 431 and garbage on the socket gets 400; the relay keeps serving', async () => {
  const big = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(relay.url + '/v1/health', { headers: { 'x-big': 'a'.repeat(40000) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(big.status, 431);
  assert.equal(JSON.parse(big.body).error.code, 'headers_too_large');
  for (const garbage of ['\x00\x01\x02garbage\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n']) {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(relay.port, '127.0.0.1', () => s.end(garbage));
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (text += c));
      s.on('close', () => resolve(text));
      s.on('error', () => resolve(text));
    });
    assert.match(reply, /^HTTP\/1\.1 400 /, JSON.stringify(garbage));
  }
  await healthy();
});

test('TTL: old messages are not returned and closed markers expire', async () => {
  // 3 s, not 1: the list and the refused post must come within the TTL of the writes before
  // them, and on two busy cores (the suite runs files in parallel) a stall can take a second.
  const short = await startRelayProcess({ args: ['--ttl', '3', '--rate-limit', 'off'] });
  try {
    const q = await newQueue();
    const path = `/v1/queues/${q.id}/messages`;
    const post = (body: string) =>
      fetch(short.url + path, { method: 'POST', body: octets(body) as BodyInit, headers: BIN }).then((r) => r.status);
    const list = async () => {
      const r = await fetch(short.url + path, { headers: { 'latch-auth': q.proof('GET', path) } });
      return ((await r.json()) as any).messages.length as number;
    };
    assert.equal(await post('soon gone'), 201);
    assert.equal(await list(), 1);
    const closePath = `/v1/queues/${q.id}/close`;
    await fetch(short.url + closePath, { method: 'POST', headers: { 'latch-auth': q.proof('POST', closePath) } });
    assert.equal(await post('refused'), 410);
    await new Promise((r) => setTimeout(r, 4200));
    assert.equal(await list(), 0);
    assert.equal(await post('open again'), 201, 'the closed marker expired with the TTL');
  } finally {
    await short.stop();
  }
});

test('rate limit: over the bucket gets 429 with Retry-After', async () => {
  const limited = await startRelayProcess({ args: ['--rate-limit', '1/5'] });
  try {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    let body: any;
    for (let i = 0; i < 8; i++) {
      const r = await fetch(limited.url + '/v1/health');
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        body = await r.json();
      } else await r.text();
    }
    assert.ok(statuses.slice(0, 5).every((s) => s === 200), statuses.join());
    assert.ok(statuses.slice(6).every((s) => s === 429), statuses.join());
    assert.match(retryAfter ?? '', /^[1-9][0-9]*$/);
    assert.equal(body.error.code, 'rate_limited');
  } finally {
    await limited.stop();
  }
});

test('a captured ack header cannot be replayed with other ids: the proof covers the body (§3.2)', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const unread = await call('POST', path, { body: octets('unread'), headers: BIN });
  const ackPath = `/v1/queues/${q.id}/ack`;
  const seenBody = JSON.stringify({ ids: ['424242'] });
  const captured = bodyProof(q, 'POST', ackPath, seenBody);
  assert.deepEqual((await call('POST', ackPath, { body: seenBody, headers: { 'latch-auth': captured } })).json, { acked: 0 });
  const replay = await call('POST', ackPath, { body: JSON.stringify({ ids: [unread.json.id] }), headers: { 'latch-auth': captured } });
  assertError(replay, 401, 'unauthorized');
  const closePath = `/v1/queues/${q.id}/close`;
  const closeProof = bodyProof(q, 'POST', closePath, '{"reason":"a"}');
  assertError(await call('POST', closePath, { body: '{"reason":"b"}', headers: { 'latch-auth': closeProof } }), 401, 'unauthorized');
  assertError(await call('POST', closePath, { headers: { 'latch-auth': closeProof } }), 401, 'unauthorized');
  const list = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(list.json.messages.map((m: any) => m.id), [unread.json.id], 'the unread message is still there');
  assert.equal((await call('POST', path, { body: octets('still open'), headers: BIN })).status, 201, 'the queue was not closed');
});

test('a send whose body is still arriving when the queue closes gets 410 and is not stored (§3.3)', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const body = octets('slow offer');
  let answered = false;
  const req = request(relay.url + path, { method: 'POST', headers: { ...BIN, 'content-length': String(body.length) } });
  const reply = new Promise<{ status: number; json: any }>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 4)); // headers and part of the body: the relay has passed its early closed check
  req.flushHeaders();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(answered, false, 'the relay is still waiting for the body');
  const closePath = `/v1/queues/${q.id}/close`;
  assert.equal((await call('POST', closePath, { headers: { 'latch-auth': bodyProof(q, 'POST', closePath) } })).status, 200);
  const drained = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(drained.json.messages, [], 'the reader drained an empty queue');
  req.end(body.subarray(4));
  assertError(await reply, 410, 'queue_closed');
  const after = await call('GET', path, { headers: { 'latch-auth': q.proof('GET', path) } });
  assert.deepEqual(after.json.messages, [], 'nothing was stored after the close');
});

test('waiting long-polls are capped per client: 100 wait, the rest get 429 too_many_connections (§3.3)', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const poll = () =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      // A fresh connection each (agent: false), so all of them really wait at the relay at once.
      const req = request(relay.url + path + '?wait=30', { agent: false, headers: { 'latch-auth': q.proof('GET', path) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    });
  const polls = Array.from({ length: 110 }, poll);
  // The 10 refused polls answer at once; the 100 waiting ones only when a message arrives.
  const refused: { status: number; json: any }[] = [];
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`only ${refused.length} of 110 long-polls were refused`)), 20_000);
    for (const p of polls) {
      p.then((r) => {
        if (r.status !== 200) refused.push(r);
        if (refused.length === 10) {
          clearTimeout(guard);
          resolve();
        }
      }, () => {});
    }
  });
  const sent = await call('POST', path, { body: octets('for everyone'), headers: BIN });
  const all = await Promise.all(polls);
  assert.equal(all.filter((r) => r.status === 200).length, 100);
  for (const r of all.filter((r) => r.status === 200)) assert.deepEqual(r.json.messages.map((m: any) => m.id), [sent.json.id]);
  for (const r of refused) {
    assertError(r, 429, 'too_many_connections');
  }
  await healthy();
});

test('the send answer says who will read the message (§3.9): "live" with a subscriber on the socket, "none" without one and no push subscription', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/messages`;
  const alone = await call('POST', path, { body: octets('nobody listens'), headers: BIN });
  assert.equal(alone.json.reader, 'none');
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/v1/ws`);
  const frames: any[] = [];
  const subscribed = new Promise<void>((resolve) =>
    ws.on('message', (raw) => {
      const f = JSON.parse(String(raw));
      frames.push(f);
      if (f.op === 'subscribed') resolve();
    }),
  );
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ op: 'subscribe', queue: q.id, auth: q.proof('SUBSCRIBE', `/v1/queues/${q.id}`) }));
  await subscribed;
  const live = await call('POST', path, { body: octets('someone listens'), headers: BIN });
  assert.equal(live.json.reader, 'live');
  ws.close();
});

test('a push subscription goes only to a known push service: another https host is refused (no requests to arbitrary hosts), a public one is taken', async () => {
  const q = await newQueue();
  const path = `/v1/queues/${q.id}/push`;
  const keys = { p256dh: Buffer.alloc(65, 4).toString('base64url'), auth: Buffer.alloc(16, 1).toString('base64url') };
  const register = (endpoint: string | null): Promise<{ status: number; json: any }> => {
    const body = JSON.stringify(endpoint === null ? { endpoint } : { endpoint, keys });
    return call('POST', path, { body, headers: { 'content-type': 'application/json', 'latch-auth': bodyProof(q, 'POST', path, body) } });
  };
  for (const inside of ['https://10.0.0.1/push/1', 'https://metadata.internal/x', 'https://evilfcm.googleapis.com.example/x', 'https://fcm.googleapis.com:8443/x']) {
    assertError(await register(inside), 400, 'push_service_not_allowed');
  }
  const sent = await call('POST', `/v1/queues/${q.id}/messages`, { body: octets('no push for this one'), headers: BIN });
  assert.equal(sent.json.reader, 'none', 'nothing was registered');
  const taken = await register('https://fcm.googleapis.com/fcm/send/abc123');
  assert.equal(taken.status, 200, JSON.stringify(taken.json));
  assert.deepEqual(taken.json, { push: true });
  // Removed again before anything is sent: the test makes no request to the real service.
  assert.deepEqual((await register(null)).json, { push: false });
});
