import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createServer, request, type Server } from 'node:http';
import { WebSocket } from 'ws';
import { RelayClient, type RelayMessage } from '../src/transport/relay-client.js';
import { RelaySocket, type SocketListener, type WebSocketCtor } from '../src/transport/relay-socket.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { isLatchError, type LatchError } from '../src/util/latch-error.js';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue, octets, type TestQueue } from './helpers/relay-keys.js';

let relay: RelayProcess;
let client: RelayClient;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  client = new RelayClient({ url: relay.url });
});
after(async () => {
  await relay.stop();
});

const text = (m: RelayMessage) => new TextDecoder().decode(m.body);

/** `p`, or a failure after 20 s: node:test has no timeout of its own. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within 20 s`)), 20_000).unref())]);
}

/** Pulls `n` items from an async iterator, failing after 20 s. */
async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await within(it.next(), 'inbox produced nothing');
    if (r.done) throw new Error('inbox ended early');
    out.push(r.value);
  }
  return out;
}

test('client: send, receive, ack, close, and server codes as LatchError', async () => {
  const q = await newQueue();
  const a = await client.send(q.id, octets('a'));
  const b = await client.send(q.id, octets('b'));
  const got = await client.receive(q);
  assert.deepEqual(got.map((m) => [m.id, text(m)]), [[a.id, 'a'], [b.id, 'b']]);
  assert.ok(got.every((m) => Number.isSafeInteger(m.receivedAt)));
  assert.deepEqual((await client.receive(q, { limit: 1 })).map((m) => m.id), [a.id]);
  await client.ack(q, [a.id]);
  assert.deepEqual((await client.receive(q)).map((m) => m.id), [b.id]);
  await assert.rejects(client.send(q.id, new Uint8Array(65537)), (e) => isLatchError(e, 'message_too_large') && e.status === 413);
  await assert.rejects(client.send(q.id, new Uint8Array(0)), (e) => isLatchError(e, 'empty_message'));
  await client.close(q, 'paired');
  await assert.rejects(client.send(q.id, octets('late')), (e) => isLatchError(e, 'queue_closed') && e.status === 410);
  const other = await newQueue();
  const forged = { publicKey: other.publicKey, secretKey: q.secretKey };
  await assert.rejects(client.receive(forged), (e) => isLatchError(e, 'unauthorized') && e.status === 401);
  await assert.rejects(client.receive(q, { waitSeconds: 99 }), (e) => isLatchError(e, 'bad_request'));
});

test('client: an unreachable relay is relay_unreachable naming the URL', async () => {
  const dead = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  await dead.stop();
  const c = new RelayClient({ url: dead.url });
  const q = await newQueue();
  // A short retry window: the default (SEND_RETRY_MS, 20 s) only makes the same answer later.
  await assert.rejects(c.send(q.id, octets('x'), { retryForMs: 300 }), (e) => isLatchError(e, 'relay_unreachable') && e.message.includes(dead.url));
  await assert.rejects(c.receive(q), (e) => isLatchError(e, 'relay_unreachable'));
});

test('client: ack and close ride out a relay restart (retried like a send); the ack lands, nothing is redelivered', async () => {
  const own = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  let current = own;
  try {
    const c = new RelayClient({ url: own.url, WebSocket: null });
    const q = await newQueue();
    const { id } = await c.send(q.id, octets('answered'));
    assert.equal((await c.receive(q)).length, 1); // a pooled connection to this relay now exists
    await own.kill9();
    // Both start while the relay is away; before, each failed at once with relay_unreachable.
    const acked = c.ack(q, [id]);
    const closed = c.close(q, 'done');
    await new Promise((r) => setTimeout(r, 300));
    current = await startRelayProcess({ dataDir: own.dataDir, port: own.port, args: ['--rate-limit', 'off'] });
    await acked;
    await closed;
    assert.deepEqual(await c.receive(q), []);
    await assert.rejects(c.send(q.id, octets('late'), { retryForMs: 300 }), (e) => isLatchError(e, 'queue_closed'));
  } finally {
    await current.stop();
  }
});

test('property: the client round-trips arbitrary bodies', async () => {
  const q = await newQueue();
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 65536 }), async (body) => {
      const { id } = await client.send(q.id, body);
      const [m] = await client.receive(q, { limit: 1 });
      assert.equal(m?.id, id);
      assert.deepEqual(m.body, body);
      await client.ack(q, [id]);
    }),
    { numRuns: 60 },
  );
});

for (const mode of ['websocket', 'long-poll'] as const) {
  test(`inbox (${mode}): yields each message once, in order; un-acked ones go to the next inbox`, async () => {
    const c = new RelayClient(mode === 'websocket' ? { url: relay.url } : { url: relay.url, WebSocket: null });
    const q = await newQueue();
    await client.send(q.id, octets('before'));
    const ac = new AbortController();
    const it = c.inbox(q, { signal: ac.signal })[Symbol.asyncIterator]();
    const [first] = await take(it, 1);
    assert.equal(text(first!), 'before');
    // Sent while the inbox waits: delivered by a wake (WebSocket) or the long-poll.
    await client.send(q.id, octets('during-1'));
    await client.send(q.id, octets('during-2'));
    const next = await take(it, 2);
    assert.deepEqual(next.map(text), ['during-1', 'during-2']);
    await c.ack(q, [first!.id, next[0]!.id]);
    ac.abort();
    assert.equal((await it.next()).done, true, 'the inbox ends when its signal aborts');
    const again = c.inbox(q)[Symbol.asyncIterator]();
    const [redelivered] = await take(again, 1);
    assert.equal(text(redelivered!), 'during-2', 'only the un-acked message comes back');
    await again.return?.();
  });
}

test('inboxes: several queues on one WebSocket', async () => {
  const queues = await Promise.all([newQueue(), newQueue(), newQueue()]);
  const ac = new AbortController();
  const it = client.inboxes(queues, { signal: ac.signal })[Symbol.asyncIterator]();
  await client.send(queues[2]!.id, octets('to 2'));
  const [a] = await take(it, 1);
  assert.deepEqual([a!.queueId, text(a!.message)], [queues[2]!.id, 'to 2']);
  await client.send(queues[0]!.id, octets('to 0'));
  await client.send(queues[1]!.id, octets('to 1'));
  const two = await take(it, 2);
  assert.deepEqual(two.map((x) => `${x.queueId}:${text(x.message)}`).sort(), [`${queues[0]!.id}:to 0`, `${queues[1]!.id}:to 1`].sort());
  ac.abort();
  assert.equal((await it.next()).done, true);
});

test('inboxes sharing a queue on one WebSocket: each gets its messages; one ending leaves the shared queue subscribed for the other', async () => {
  const c = new RelayClient({ url: relay.url });
  const [shared, own] = await Promise.all([newQueue(), newQueue()]);
  const acA = new AbortController();
  const acB = new AbortController();
  const up = (): { seen: Promise<void>; onStatus: (s: string) => void } => {
    let ok!: () => void;
    return { seen: new Promise<void>((r) => (ok = r)), onStatus: (s) => s === 'connected' && ok() };
  };
  const sa = up();
  const sb = up();
  const a = c.inboxes([shared, own], { signal: acA.signal, onStatus: sa.onStatus })[Symbol.asyncIterator]();
  const b = c.inboxes([shared], { signal: acB.signal, onStatus: sb.onStatus })[Symbol.asyncIterator]();
  try {
    // Pulled first: an async generator's body (and its listener) starts at the first next().
    const firstA = take(a, 1);
    const firstB = take(b, 1);
    firstA.catch(() => undefined);
    firstB.catch(() => undefined);
    await within(Promise.all([sa.seen, sb.seen]), 'inboxes not connected');
    await client.send(own.id, octets('own'));
    const [x] = await firstA;
    assert.deepEqual([x!.queueId, text(x!.message)], [own.id, 'own'], 'a queue of one inbox reaches that inbox');
    await client.send(shared.id, octets('both'));
    const [y] = await take(a, 1);
    const [z] = await firstB;
    assert.deepEqual([y!.queueId, text(y!.message)], [shared.id, 'both']);
    assert.deepEqual([z!.queueId, text(z!.message)], [shared.id, 'both'], 'a shared queue reaches every inbox of it');
    acA.abort();
    assert.equal((await a.next()).done, true);
    // The inbox that ended must not have unsubscribed the queue the other still reads: this comes
    // over the socket now, not from the re-list a minute later (take gives up after 20 s).
    await client.send(shared.id, octets('after'));
    const [w] = await take(b, 1);
    assert.deepEqual([w!.queueId, text(w!.message)], [shared.id, 'after']);
  } finally {
    acA.abort();
    acB.abort();
    // An inbox paused at a yield does not see the abort until it is pulled again: ended here, so
    // a failed assertion above leaves no listener (and its reconnecting socket) behind.
    await Promise.allSettled([a.return?.(), b.return?.()]);
  }
});

test('a socket opens one WebSocket when two listeners come before it has its WebSocket constructor', async () => {
  // The real ws client, counting its sockets; the constructor arrives only after both listens,
  // as when a new client's inboxes start together. Each listen used to start a connect, and the
  // first socket was replaced without ever being closed.
  let made = 0;
  class CountingWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      made++;
    }
  }
  let giveCtor!: (c: WebSocketCtor) => void;
  const ctor = new Promise<WebSocketCtor>((r) => (giveCtor = r));
  const sock = new RelaySocket(ctor, `${relay.url.replace(/^http/, 'ws')}/v1/ws`, sodiumReady());
  const [q1, q2] = await Promise.all([newQueue(), newQueue()]);
  let connected = 0;
  let bothUp!: () => void;
  const up = new Promise<void>((r) => (bothUp = r));
  const listener = (q: TestQueue): SocketListener => ({
    queues: [{ key: q, id: q.id }],
    onConnected: () => ++connected === 2 && bothUp(),
    onDisconnected: () => {},
    onWake: () => {},
    onDeliver: () => {},
  });
  const stops = [sock.listen(listener(q1)), sock.listen(listener(q2))];
  try {
    giveCtor(CountingWebSocket as unknown as WebSocketCtor);
    await within(up, 'not subscribed');
    assert.equal(made, 1);
  } finally {
    for (const stop of stops) stop();
  }
});

test('kill -9: a 201-ed message survives, the inbox reconnects, an acked message is not redelivered', async () => {
  const own = await startRelayProcess({ args: ['--rate-limit', 'off'] });
  let current = own;
  try {
    const c = new RelayClient({ url: own.url });
    const q = await newQueue();
    const acked = await c.send(q.id, octets('acked before the crash'));
    await c.ack(q, [acked.id]);
    const statuses: string[] = [];
    const ac = new AbortController();
    const it = c.inbox(q, { signal: ac.signal, onStatus: (s) => statuses.push(s) })[Symbol.asyncIterator]();
    await c.send(q.id, octets('one'));
    const [m1] = await take(it, 1);
    assert.equal(text(m1!), 'one');
    await c.ack(q, [m1!.id]);
    const durable = await c.send(q.id, octets('accepted, then kill -9'));
    await own.kill9();
    const pending = take(it, 1); // the inbox is now retrying against a dead relay
    await new Promise((r) => setTimeout(r, 700));
    current = await startRelayProcess({ dataDir: own.dataDir, port: own.port, args: ['--rate-limit', 'off'] });
    const [m2] = await pending;
    // The generator was suspended before the kill, so this delivery came from the restarted relay.
    assert.equal(m2!.id, durable.id);
    assert.equal(text(m2!), 'accepted, then kill -9');
    await c.send(q.id, octets('after restart'));
    const [m3] = await take(it, 1);
    assert.equal(text(m3!), 'after restart');
    ac.abort();
    await it.next();
    assert.equal(statuses[0], 'connected');
    // A fresh reader sees exactly what was never acked: not the message acked before the crash.
    const left = await c.receive(q);
    assert.deepEqual(left.map(text), ['accepted, then kill -9', 'after restart']);
  } finally {
    await current.stop();
    await own.stop();
  }
});

for (const mode of ['websocket', 'long-poll'] as const) {
  test(`inbox (${mode}): a message yielded but not acked is yielded again after the safety interval; acked ones are not (§3.7)`, async () => {
    const opts = { url: relay.url, safetyPollMs: 300 };
    const c = new RelayClient(mode === 'websocket' ? opts : { ...opts, WebSocket: null });
    const q = await newQueue();
    const ac = new AbortController();
    const it = c.inbox(q, { signal: ac.signal })[Symbol.asyncIterator]();
    try {
      const failed = await client.send(q.id, octets('handler failed'));
      const [first] = await take(it, 1);
      assert.equal(first!.id, failed.id);
      // The caller's handler failed, so it did not ack: the same inbox delivers the message again.
      const [retry] = await take(it, 1);
      assert.deepEqual([retry!.id, text(retry!)], [failed.id, 'handler failed']);
      await c.ack(q, [retry!.id]);
      // Acked now: after several safety intervals the next message is the new one, not the old again.
      await new Promise((r) => setTimeout(r, 1000));
      const fresh = await client.send(q.id, octets('fresh'));
      const [next] = await take(it, 1);
      assert.deepEqual([next!.id, text(next!)], [fresh.id, 'fresh']);
      await c.ack(q, [next!.id]);
    } finally {
      ac.abort();
      await it.next().catch(() => {});
    }
  });
}

test('inboxes over several queues on the socket: each queue\'s unacked message is yielded again after the safety interval, while the other queues go on delivering', async () => {
  const c = new RelayClient({ url: relay.url, safetyPollMs: 300 });
  const qs = [await newQueue(), await newQueue(), await newQueue()];
  const ac = new AbortController();
  const it = c.inboxes(qs, { signal: ac.signal })[Symbol.asyncIterator]();
  try {
    const kept = await client.send(qs[0]!.id, octets('not acked'));
    const [first] = await take(it, 1);
    assert.equal(first!.message.id, kept.id);
    // Deliveries on the other queues, acked at once, each pulled only once it is there: the
    // unacked one still comes back (it used to wait for a pause in the deliveries).
    const seen: string[] = [];
    let sent = 0;
    for (let i = 0; i < 40 && !seen.includes('not acked'); i++, sent++) {
      const q = qs[1 + (i % 2)]!;
      const other = await client.send(q.id, octets(`other ${i}`));
      for (;;) {
        const [got] = await take(it, 1);
        seen.push(text(got!.message));
        if (got!.message.id === other.id) {
          await c.ack(q, [other.id]);
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen.includes('not acked'), `the unacked message came again (seen: ${seen.join(', ')})`);
    assert.deepEqual(seen.filter((t) => t !== 'not acked'), Array.from({ length: sent }, (_, i) => `other ${i}`), 'each acked message once');
  } finally {
    ac.abort();
    await it.next().catch(() => {});
  }
});

test('inboxes on the socket: a queue whose re-list keeps failing backs off alone; the other queues are re-listed once per safety interval, not in a loop', async () => {
  // The relay is untrusted (§2): here it refuses every HTTP list of one queue while the socket
  // works. That queue's re-list stayed "in progress" with its start long past, so every wait was
  // 0 ms and every turn re-listed all the other queues over HTTP.
  const q = [await newQueue(), await newQueue()];
  const lists = new Map<string, number>();
  const refusing = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input instanceof Request ? input.url : input);
    const m = /\/v1\/queues\/([A-Za-z0-9_-]+)\/messages/.exec(url);
    if (m && (init?.method ?? 'GET') === 'GET') {
      lists.set(m[1]!, (lists.get(m[1]!) ?? 0) + 1);
      if (m[1] === q[0]!.id) return Promise.resolve(new Response('{"error":{"code":"internal","message":"no"}}', { status: 500, headers: { 'content-type': 'application/json' } }));
    }
    return fetch(input, init);
  };
  const c = new RelayClient({ url: relay.url, safetyPollMs: 200, fetch: refusing });
  const ac = new AbortController();
  const it = c.inboxes(q, { signal: ac.signal })[Symbol.asyncIterator]();
  try {
    // On the healthy queue a message yielded and acked (a queue with a cursor is re-listed over
    // HTTP); on the other, one yielded and not acked: its re-lists go over HTTP, and are refused.
    const done = await client.send(q[1]!.id, octets('done'));
    const [one] = await take(it, 1);
    assert.equal(one!.message.id, done.id);
    await c.ack(q[1]!, [done.id]);
    const kept = await client.send(q[0]!.id, octets('kept'));
    const [first] = await take(it, 1);
    assert.equal(first!.message.id, kept.id);
    const pulling = it.next().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000));
    // ~10 safety intervals: about 10 re-lists of the healthy queue (one per interval), not hundreds.
    assert.ok((lists.get(q[1]!.id) ?? 0) <= 30, `re-lists of the healthy queue in 2 s: ${lists.get(q[1]!.id)}`);
    assert.ok((lists.get(q[0]!.id) ?? 0) <= 30, `re-list attempts of the refused queue in 2 s: ${lists.get(q[0]!.id)}`);
    ac.abort();
    await pulling;
  } finally {
    ac.abort();
    await it.next().catch(() => {});
  }
});

test('inboxes: "connected" is reported once the WebSocket is subscribed, not when a first long-poll returns', async () => {
  // One queue with nothing queued: the first receive may be a 25 s long-poll started before the
  // socket was up. The status must not wait for it (the web page showed "Connecting…" meanwhile).
  const q = await newQueue();
  const ac = new AbortController();
  const statuses: string[] = [];
  const connected = new Promise<number>((resolve) => {
    const started = Date.now();
    const it = client.inbox(q, { signal: ac.signal, onStatus: (s) => { statuses.push(s); if (s === 'connected') resolve(Date.now() - started); } })[Symbol.asyncIterator]();
    void it.next().catch(() => undefined);
  });
  const ms = await Promise.race([connected, new Promise<number>((r) => setTimeout(() => r(-1), 15_000).unref())]);
  ac.abort();
  assert.notEqual(ms, -1, `no "connected" within 15 s (statuses: ${statuses.join(',')})`);
  assert.deepEqual(statuses, ['connected']);
});

/**
 * A relay that misbehaves (PROTOCOL.md §2: the relay is untrusted): forwards to the real relay,
 * except that while `bad` says so for a GET of a queue's messages it answers that itself.
 * No WebSocket upgrades: clients long-poll or poll through it.
 */
async function misbehavingProxy(
  target: string,
  bad: (queueId: string) => { status: number; body: string } | undefined,
): Promise<{ url: string; stop(): Promise<void> }> {
  const t = new URL(target);
  const server: Server = createServer((req, res) => {
    const m = req.method === 'GET' ? /^\/v1\/queues\/([^/]+)\/messages/.exec(req.url ?? '') : null;
    const answer = m ? bad(m[1]!) : undefined;
    if (answer !== undefined) {
      req.resume();
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
      return;
    }
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const RELAY_401 = { status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'relay authentication failed' } }) };
const bodies = {
  'a body that is not JSON': { status: 200, body: '<html>captive portal</html>' },
  'a malformed message list': { status: 200, body: JSON.stringify({ messages: [{ id: 'x', body: 1 }] }) },
  'a 401 (clock skew, or a lying relay)': RELAY_401,
  'a 404 with an error body carrying terminal escapes': { status: 404, body: JSON.stringify({ error: { code: 'not_found', message: 'gone\u001b[2J\u202eevil' } }) },
};

for (const [what, answer] of Object.entries(bodies)) {
  test(`inbox: after ${what} the inbox reports disconnected, says why, retries, and then yields the real message`, async () => {
    let left = 2;
    const proxy = await misbehavingProxy(relay.url, () => (left-- > 0 ? answer : undefined));
    try {
      const c = new RelayClient({ url: proxy.url, WebSocket: null });
      const q = await newQueue();
      await client.send(q.id, octets('real'));
      const statuses: string[] = [];
      const errors: LatchError[] = [];
      const ac = new AbortController();
      const it = c
        .inbox(q, { signal: ac.signal, onStatus: (s) => statuses.push(s), onError: (e) => errors.push(e) })
        [Symbol.asyncIterator]();
      const [m] = await take(it, 1);
      assert.equal(text(m!), 'real');
      assert.deepEqual(statuses, ['disconnected', 'connected']);
      // Reported once for the outage, not once per retry; the relay's words are cleaned.
      assert.equal(errors.length, 1);
      assert.equal(left, -1, 'both bad answers were served');
      assert.doesNotMatch(errors[0]!.message, /[\p{Cc}\p{Cf}]/u);
      if (answer.status === 401) assert.ok(isLatchError(errors[0], 'unauthorized'));
      ac.abort();
      assert.equal((await it.next()).done, true);
    } finally {
      await proxy.stop();
    }
  });
}

test('inboxes: a relay refusing one queue (401) neither stops the others nor hammers; that queue recovers later', async () => {
  const [refused, fine] = await Promise.all([newQueue(), newQueue()]);
  let refusing = true;
  let refusedGets = 0;
  const proxy = await misbehavingProxy(relay.url, (id) => {
    if (id !== refused.id || !refusing) return undefined;
    refusedGets++;
    return RELAY_401;
  });
  try {
    const c = new RelayClient({ url: proxy.url, WebSocket: null });
    await client.send(refused.id, octets('late'));
    const statuses: string[] = [];
    const errors: LatchError[] = [];
    const ac = new AbortController();
    // The refused queue first: it must not starve the one after it.
    const it = c
      .inboxes([refused, fine], { signal: ac.signal, onStatus: (s) => statuses.push(s), onError: (e) => errors.push(e) })
      [Symbol.asyncIterator]();
    const started = Date.now();
    await client.send(fine.id, octets('on time'));
    const [a] = await take(it, 1);
    assert.deepEqual([a!.queueId, text(a!.message)], [fine.id, 'on time']);
    // Keep the inbox running (it is pulled) while the relay goes on refusing.
    const later = take(it, 1);
    await new Promise((r) => setTimeout(r, 3000));
    // Retried with a growing backoff (200 ms doubling): neither given up nor hammered.
    const seconds = (Date.now() - started) / 1000;
    assert.ok(refusedGets >= 3 && refusedGets <= 10, `${refusedGets} refused GETs in ${seconds.toFixed(1)} s`);
    assert.equal(statuses.at(-1), 'disconnected', 'one queue still cannot be read');
    assert.deepEqual(errors.map((e) => e.code), ['unauthorized'], 'reported once, not once per retry');
    refusing = false;
    const [b] = await later;
    assert.deepEqual([b!.queueId, text(b!.message)], [refused.id, 'late']);
    await client.send(fine.id, octets('after'));
    const [d] = await take(it, 1);
    assert.equal(text(d!.message), 'after');
    assert.equal(statuses.at(-1), 'connected');
    ac.abort();
  } finally {
    await proxy.stop();
  }
});

test('inbox: an error raised here, not by the relay, still ends the inbox (a caller bug is not retried)', async () => {
  const q = await newQueue();
  const it = client.inboxes([q, q])[Symbol.asyncIterator]();
  await assert.rejects(it.next(), (e) => e instanceof TypeError && /duplicate queue/.test(e.message));
});

test('inboxes: a relay answering garbage for every queue is reported once for the inbox, not once per queue', async () => {
  const queues = await Promise.all([newQueue(), newQueue(), newQueue()]);
  let left = 9;
  const proxy = await misbehavingProxy(relay.url, () => (left-- > 0 ? { status: 200, body: 'garbage' } : undefined));
  try {
    const c = new RelayClient({ url: proxy.url, WebSocket: null });
    await client.send(queues[1]!.id, octets('through'));
    const errors: LatchError[] = [];
    const ac = new AbortController();
    const it = c.inboxes(queues, { signal: ac.signal, onError: (e) => errors.push(e) })[Symbol.asyncIterator]();
    const [m] = await take(it, 1);
    assert.equal(text(m!.message), 'through');
    assert.ok(left < 0, 'all garbage answers were served');
    assert.deepEqual(errors.map((e) => e.code), ['relay_bad_response']);
    ac.abort();
  } finally {
    await proxy.stop();
  }
});
