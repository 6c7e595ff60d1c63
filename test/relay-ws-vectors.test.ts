/**
 * The relay's WebSocket frames, protocol 4 (PROTOCOL.md §3.5), against test/vectors/relay-ws-v4.json:
 * what a relay accepts and what it means, what it refuses and with which code, and the exact text
 * of the frames it writes, which the client must read back to the same values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeServerFrame, parseClientFrame, parseServerFrame, type ClientFrame, type ServerFrame } from '../src/relay/relay-ws-frame.js';
import { encodeBinaryDeliver, encodeBinarySend, parseBinaryClientFrame, parseBinaryServerFrame } from '../src/relay/relay-ws-binary-frame.js';

interface Vectors {
  protocol: number;
  client_frames: { text: string; frame: Record<string, unknown> }[];
  rejected_client_frames: { text: string; code: string; max_message_bytes?: number }[];
  server_frames: { frame: ServerFrame; text: string }[];
  binary_client_frames: { hex: string; frame: { queue: string; cid: string; body: string } }[];
  rejected_binary_client_frames: { hex: string; code: string; max_message_bytes?: number; why: string }[];
  binary_server_frames: { frame: { queue: string; id: string; received_at: number; body: string }; hex: string }[];
  rejected_binary_server_frames: { hex: string; why: string }[];
}
const V = JSON.parse(readFileSync(new URL('../../test/vectors/relay-ws-v4.json', import.meta.url), 'utf8')) as Vectors;

/** A parsed frame in the vector's JSON form: send bodies in hex, ack maps as objects. */
function plain(f: ClientFrame): Record<string, unknown> {
  if (f.op === 'send') return { ...f, body: Buffer.from(f.body).toString('hex') };
  if (f.op === 'ack') return { ...f, acks: Object.fromEntries(f.acks) };
  return { ...f };
}

test('vectors: client frames a relay accepts, and what they mean', () => {
  assert.equal(V.protocol, 4);
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

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

test('vectors: binary send frames a relay accepts, what they mean, and the one encoding of each', () => {
  assert.ok(V.binary_client_frames.length >= 3);
  for (const v of V.binary_client_frames) {
    const r = parseBinaryClientFrame(bytes(v.hex), 65536);
    assert.ok(r.ok, v.hex);
    assert.deepEqual({ ...r.frame, body: hex(r.frame.body) }, v.frame);
    assert.equal(hex(encodeBinarySend({ ...v.frame, body: bytes(v.frame.body) })), v.hex);
  }
});

test('vectors: binary frames a relay refuses, with their codes', () => {
  for (const v of V.rejected_binary_client_frames) {
    const r = parseBinaryClientFrame(bytes(v.hex), v.max_message_bytes ?? 65536);
    assert.ok(!r.ok, v.why);
    assert.equal(r.code, v.code, v.why);
  }
});

test('vectors: binary deliver frames, byte for byte, read back by the client; and what it ignores', () => {
  for (const v of V.binary_server_frames) {
    const f = { queue: v.frame.queue, id: v.frame.id, receivedAt: v.frame.received_at, body: bytes(v.frame.body) };
    assert.equal(hex(encodeBinaryDeliver(f)), v.hex);
    const back = parseBinaryServerFrame(bytes(v.hex));
    assert.ok(back, v.hex);
    assert.deepEqual({ ...back, body: hex(back.body) }, { ...f, body: v.frame.body });
  }
  for (const v of V.rejected_binary_server_frames) assert.equal(parseBinaryServerFrame(bytes(v.hex)), undefined, v.why);
});
