import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from '../src/protocol/sodium.js';
import { parseRelayProof, signRelayProof, verifyRelayProof } from '../src/relay/relay-proof.js';
import { newQueue } from './helpers/relay-keys.js';

test('a proof verifies for its own method, path, queue and time window', async () => {
  const sodium = await sodiumReady();
  const q = await newQueue();
  const other = await newQueue();
  const now = 1_700_000_000;
  const path = `/v1/queues/${q.id}/messages`;
  const header = q.proof('GET', path, now);
  const ok = (h: string, over: Partial<{ method: string; pathname: string; queueId: string; nowSeconds: number; body: Uint8Array }> = {}) =>
    verifyRelayProof(sodium, h, { method: 'GET', pathname: path, queueId: q.id, nowSeconds: now, body: new Uint8Array(0), ...over }).ok;
  assert.equal(ok(header), true);
  assert.equal(ok(header, { nowSeconds: now + 300 }), true);
  assert.equal(ok(header, { nowSeconds: now + 301 }), false);
  assert.equal(ok(header, { nowSeconds: now - 301 }), false);
  assert.equal(ok(header, { method: 'POST' }), false);
  assert.equal(ok(header, { pathname: `/v1/queues/${q.id}/ack` }), false);
  assert.equal(ok(header, { queueId: other.id }), false);
  assert.equal(ok(other.proof('GET', path, now)), false, 'another key cannot read this queue');
  assert.equal(ok(header.replace(/^v1/, 'v2')), false);
  assert.equal(ok(`${header} `), false);
  assert.equal(ok(header.replace(/ /g, '  ')), false);
  assert.equal(ok(header, { body: new Uint8Array([0x7b, 0x7d]) }), false, 'a GET proof signs the empty body');
});

test('a proof binds the body: the same header with other bytes fails (PROTOCOL.md §3.2)', async () => {
  const sodium = await sodiumReady();
  const q = await newQueue();
  const now = 1_700_000_000;
  const path = `/v1/queues/${q.id}/ack`;
  const body = new TextEncoder().encode('{"ids":["1"]}');
  const header = signRelayProof(sodium, q, 'POST', path, now, body);
  const check = (b: Uint8Array) => verifyRelayProof(sodium, header, { method: 'POST', pathname: path, queueId: q.id, nowSeconds: now, body: b }).ok;
  assert.equal(check(body), true);
  assert.equal(check(new TextEncoder().encode('{"ids":["2"]}')), false);
  assert.equal(check(new Uint8Array(0)), false);
  assert.equal(check(new TextEncoder().encode('{"ids":["1"]} ')), false);
});

test('property: changing any character of a proof makes it fail', async () => {
  const sodium = await sodiumReady();
  const q = await newQueue();
  const now = 1_700_000_000;
  const path = `/v1/queues/${q.id}`;
  const header = q.proof('SUBSCRIBE', path, now);
  fc.assert(
    fc.property(fc.nat({ max: header.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
      fc.pre(header[i] !== c);
      const mutated = header.slice(0, i) + c + header.slice(i + 1);
      const r = verifyRelayProof(sodium, mutated, { method: 'SUBSCRIBE', pathname: path, queueId: q.id, nowSeconds: now, body: new Uint8Array(0) });
      return !r.ok;
    }),
    { numRuns: 500 },
  );
});

test('fuzz: the proof parser never throws on arbitrary input', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything()), (input) => {
      const r = parseRelayProof(input);
      return typeof r === 'object' && r !== null;
    }),
    { numRuns: 2000 },
  );
});
