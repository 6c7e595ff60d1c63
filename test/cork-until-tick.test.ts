import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { corkUntilTick } from '../src/util/cork-until-tick.js';

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

test('writes of one turn leave as one writev, after the turn; the next turn starts a new one', async () => {
  const { stream, writes } = recorder();
  corkUntilTick(stream);
  stream.write('a');
  corkUntilTick(stream); // a second call in the same turn adds no second cork
  stream.write('b');
  await Promise.resolve().then(() => {
    // Writes made by promise jobs of the same turn still join it.
    corkUntilTick(stream);
    stream.write('c');
  });
  assert.deepEqual(writes, [], 'nothing is written while the turn lasts');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, [['a', 'b', 'c']]);
  assert.equal(stream.writableCorked, 0, 'every cork was undone');

  corkUntilTick(stream);
  stream.write('d');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, [['a', 'b', 'c'], ['d']]);
});

test('nested corks of the writer (as ws does per frame) do not flush early', async () => {
  const { stream, writes } = recorder();
  corkUntilTick(stream);
  for (const part of ['h1', 'p1', 'h2', 'p2']) {
    stream.cork();
    stream.write(part);
    stream.uncork();
  }
  assert.deepEqual(writes, []);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, [['h1', 'p1', 'h2', 'p2']]);
});

test('a real socket gets every byte of a corked turn, also when it ends inside the turn', async () => {
  const got: Buffer[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => got.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client: Socket = createConnection(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  corkUntilTick(client);
  for (let i = 0; i < 100; i++) client.write(`frame ${i};`);
  client.end('last;'); // end() flushes what is corked; the later uncork finds nothing to do
  await new Promise((r) => setImmediate(r));
  await new Promise<void>((r) => server.close(() => r()));
  const text = Buffer.concat(got).toString();
  assert.equal(text, Array.from({ length: 100 }, (_, i) => `frame ${i};`).join('') + 'last;');
});
