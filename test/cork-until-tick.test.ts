import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { corkUntilTick, flushCorked } from '../src/util/cork-until-tick.js';

/** A stream that records each write it is handed: one entry per write or writev. */
function recorder(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      writes.push(chunks.map((c) => String(c.chunk)));
      cb();
    },
  });
  return { stream, writes };
}

/** Runs `fn` as a macrotask of its own, as the relay's socket and worker callbacks run. */
function inCallback(fn: () => void): Promise<void> {
  return new Promise((resolve) => setImmediate(() => (fn(), resolve())));
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('the writes of one callback leave as one writev when it returns, before anything queued after the cork', async () => {
  const { stream, writes } = recorder();
  let seenByNextTick: string[][] | undefined;
  await inCallback(() => {
    corkUntilTick(stream);
    stream.write('a');
    corkUntilTick(stream); // a second call in the same callback adds no second cork
    stream.write('b');
    assert.deepEqual(writes, [], 'nothing is written while the callback runs');
    // Queued after the cork's flush: it sees the flush done. A flush deferred to a later turn
    // (setImmediate, a timer) would not be.
    process.nextTick(() => (seenByNextTick = writes.map((w) => [...w])));
  });
  assert.deepEqual(seenByNextTick, [['a', 'b']]);
  assert.equal(stream.writableCorked, 0, 'every cork was undone');

  await inCallback(() => {
    corkUntilTick(stream);
    stream.write('c');
  });
  await nextTurn();
  assert.deepEqual(writes, [['a', 'b'], ['c']], 'the next callback starts a write of its own');
});

test('taken in a promise job, the cork also holds the promise jobs queued beside it (a committed batch)', async () => {
  const { stream, writes } = recorder();
  await inCallback(() => {
    // As the store's settle: one callback resolves many callers, each answers in its own job.
    for (const part of ['s1', 's2', 's3']) {
      void Promise.resolve().then(() => {
        corkUntilTick(stream);
        stream.write(part);
      });
    }
  });
  await nextTurn();
  assert.deepEqual(writes, [['s1', 's2', 's3']]);
});

test('nested corks of the writer (as ws does per frame) do not flush early', async () => {
  const { stream, writes } = recorder();
  await inCallback(() => {
    corkUntilTick(stream);
    for (const part of ['h1', 'p1', 'h2', 'p2']) {
      stream.cork();
      stream.write(part);
      stream.uncork();
    }
    assert.deepEqual(writes, []);
  });
  await nextTurn();
  assert.deepEqual(writes, [['h1', 'p1', 'h2', 'p2']]);
});

test('flushCorked writes out at once what is held; later writes of the callback are held again', async () => {
  const { stream, writes } = recorder();
  await inCallback(() => {
    corkUntilTick(stream);
    stream.write('a');
    flushCorked(stream);
    assert.deepEqual(writes, [['a']]);
    flushCorked(stream); // nothing held: nothing happens
    corkUntilTick(stream);
    stream.write('b');
    stream.write('c');
    assert.deepEqual(writes, [['a']]);
  });
  await nextTurn();
  assert.deepEqual(writes, [['a'], ['b', 'c']]);
  assert.equal(stream.writableCorked, 0);
});

async function socketPair(): Promise<{ server: Server; client: Socket; got: Buffer[] }> {
  const got: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => got.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client = createConnection(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  return { server, client, got };
}

test('on a real socket, flushCorked hands held bytes to the kernel: they leave the buffered count (the slow-reader check)', async () => {
  const { server, client, got } = await socketPair();
  const chunk = Buffer.alloc(64 * 1024, 1);
  await inCallback(() => {
    corkUntilTick(client);
    for (let i = 0; i < 4; i++) client.write(chunk);
    assert.equal(client.writableLength, 4 * chunk.length, 'held bytes count as buffered');
    flushCorked(client);
    // A peer that reads keeps loopback's buffers far from full: the kernel takes all 256 KiB.
    assert.ok(client.writableLength < chunk.length, `after the flush ${client.writableLength} bytes are still buffered`);
  });
  client.end();
  await new Promise<void>((r) => server.close(() => r()));
  assert.equal(Buffer.concat(got).length, 4 * chunk.length);
});

test('a real socket gets every byte of a corked callback, also when it ends inside it', async () => {
  const { server, client, got } = await socketPair();
  await inCallback(() => {
    corkUntilTick(client);
    for (let i = 0; i < 100; i++) client.write(`frame ${i};`);
    client.end('last;'); // end() flushes what is corked; the later uncork finds nothing to do
  });
  await new Promise<void>((r) => server.close(() => r()));
  const text = Buffer.concat(got).toString();
  assert.equal(text, Array.from({ length: 100 }, (_, i) => `frame ${i};`).join('') + 'last;');
});
