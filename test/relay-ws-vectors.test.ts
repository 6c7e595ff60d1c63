/**
 * The relay's WebSocket frames, protocol 3 (PROTOCOL.md §3.5), against test/vectors/relay-ws-v3.json:
 * what a relay accepts and what it means, what it refuses and with which code, and the exact text
 * of the frames it writes, which the client must read back to the same values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeServerFrame, parseClientFrame, parseServerFrame, type ClientFrame, type ServerFrame } from '../src/relay/relay-ws-frame.js';

interface Vectors {
  protocol: number;
  client_frames: { text: string; frame: Record<string, unknown> }[];
  rejected_client_frames: { text: string; code: string; max_message_bytes?: number }[];
  server_frames: { frame: ServerFrame; text: string }[];
}
const V = JSON.parse(readFileSync(new URL('../../test/vectors/relay-ws-v3.json', import.meta.url), 'utf8')) as Vectors;

/** A parsed frame in the vector's JSON form: send bodies in hex, ack maps as objects. */
function plain(f: ClientFrame): Record<string, unknown> {
  if (f.op === 'send') return { ...f, body: Buffer.from(f.body).toString('hex') };
  if (f.op === 'ack') return { ...f, acks: Object.fromEntries(f.acks) };
  return { ...f };
}

test('vectors: client frames a relay accepts, and what they mean', () => {
  assert.equal(V.protocol, 3);
  for (const v of V.client_frames) {
    const r = parseClientFrame(v.text);
    assert.ok(r.ok, v.text);
    assert.deepEqual(plain(r.frame), v.frame);
  }
});

test('vectors: client frames a relay refuses, with their codes', () => {
  for (const v of V.rejected_client_frames) {
    const r = parseClientFrame(v.text, v.max_message_bytes);
    assert.ok(!r.ok, v.text);
    assert.equal(r.code, v.code, v.text);
  }
});

test('vectors: server frames, byte for byte, and read back by the client', () => {
  for (const v of V.server_frames) {
    assert.equal(encodeServerFrame(v.frame), v.text);
    assert.deepEqual(parseServerFrame(v.text), v.frame);
  }
});
