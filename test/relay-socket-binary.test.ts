/**
 * What `RelaySocket` speaks to a relay of each protocol (PROTOCOL.md §3.5, §3.5.1): binary send
 * and deliver frames only with a relay whose `ready` says 4 or more, JSON with one that says 3,
 * and only on a socket that reads binary frames synchronously. The relay here is a stand-in that
 * records the frames it gets, since a real relay of protocol 3 no longer exists to run; the real
 * relay's side of protocol 4 is tested in relay-ws-deliver.test.ts; a browser's socket (binaryType
 * 'blob' at first) is stood in for by a `ws` socket set so, and the web authenticator tests run
 * the same code in Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { sodiumReady } from '../src/protocol/sodium.js';
import { encodeBase64url } from '../src/protocol/base64url.js';
import { RelaySocket, type DeliveredMessage, type WebSocketCtor } from '../src/transport/relay-socket.js';
import { encodeBinaryDeliver, parseBinaryClientFrame } from '../src/relay/relay-ws-binary-frame.js';
import { parseClientFrame } from '../src/relay/relay-ws-frame.js';
import { newQueue, octets } from './helpers/relay-keys.js';

interface Seen {
  binary: boolean;
  frame: Record<string, unknown>;
}

/** A relay stand-in of `protocol`: answers subscribe and send, delivers `body` once subscribed. */
async function standIn(protocol: number, body: Uint8Array): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const seen: Seen[] = [];
  wss.on('connection', (ws: WebSocket) => {
    ws.send(JSON.stringify({ op: 'ready', protocol, max_message_bytes: 65536 }));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = data as Buffer;
      if (isBinary) {
        const p = parseBinaryClientFrame(bytes, 65536);
        assert.ok(p.ok, 'a well-formed binary send');
        seen.push({ binary: true, frame: { op: 'send', ...p.frame } });
        ws.send(JSON.stringify({ op: 'stored', cid: p.frame.cid, id: '7' }));
        return;
      }
      const p = parseClientFrame(bytes.toString('utf8'));
      assert.ok(p.ok, bytes.toString('utf8'));
      const f = p.frame;
      // What the client put on the wire, not what the parser defaults.
      seen.push({ binary: false, frame: JSON.parse(bytes.toString('utf8')) as Record<string, unknown> });
      if (f.op === 'subscribe') {
        ws.send(JSON.stringify({ op: 'subscribed', queue: f.queue }));
        if (f.binary) ws.send(encodeBinaryDeliver({ queue: f.queue, id: '5', receivedAt: 1700000000, body }));
        else ws.send(JSON.stringify({ op: 'deliver', queue: f.queue, id: '5', body: encodeBase64url(body), received_at: 1700000000 }));
      } else if (f.op === 'send') ws.send(JSON.stringify({ op: 'stored', cid: f.cid, id: '7' }));
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    seen,
    close: () => new Promise((r) => wss.close(() => r())),
  };
}

/** Subscribes one queue through a RelaySocket, takes one delivery, sends one message. */
async function roundTrip(protocol: number, ctor: WebSocketCtor): Promise<{ seen: Seen[]; delivered: DeliveredMessage; sentBody: Uint8Array }> {
  const body = octets('a body of some bytes \u0000\u00ff');
  const relay = await standIn(protocol, body);
  const q = await newQueue();
  const socket = new RelaySocket(Promise.resolve(ctor), relay.url, sodiumReady());
  let unlisten = (): void => undefined;
  try {
    const delivered = await new Promise<DeliveredMessage>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no delivery within 10 s')), 10_000);
      unlisten = socket.listen({
        queues: [{ key: q, id: q.id }],
        onConnected: () => undefined,
        onDisconnected: () => undefined,
        onWake: () => undefined,
        onDeliver: (_queue, m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
    assert.deepEqual(Buffer.from(delivered.body), Buffer.from(body));
    assert.deepEqual([delivered.id, delivered.receivedAt], ['5', 1700000000]);
    const sentBody = octets('sent \u0001\u0002');
    assert.deepEqual(await socket.send(q.id, sentBody, 'cid-aaaaaaaaaaaaaaaa'), { id: '7' });
    return { seen: relay.seen, delivered, sentBody };
  } finally {
    unlisten(); // the last listener gone, the socket closes
    await relay.close();
  }
}

test('with a protocol-4 relay: subscribes with binary, reads binary delivers, sends binary', async () => {
  const { seen, sentBody } = await roundTrip(4, WebSocket as unknown as WebSocketCtor);
  const subscribe = seen.find((s) => s.frame.op === 'subscribe')!;
  assert.equal(subscribe.binary, false, 'subscribe stays JSON');
  assert.equal(subscribe.frame.binary, true);
  assert.equal(subscribe.frame.deliver, true);
  const send = seen.find((s) => s.frame.op === 'send')!;
  assert.equal(send.binary, true);
  assert.deepEqual(Buffer.from(send.frame.body as Uint8Array), Buffer.from(sentBody));
  assert.equal(send.frame.cid, 'cid-aaaaaaaaaaaaaaaa');
});

test('with a protocol-3 relay: no binary field, no binary frame', async () => {
  const { seen, sentBody } = await roundTrip(3, WebSocket as unknown as WebSocketCtor);
  assert.ok(seen.every((s) => !s.binary));
  const subscribe = seen.find((s) => s.frame.op === 'subscribe')!;
  assert.equal('binary' in subscribe.frame, false);
  assert.equal(subscribe.frame.deliver, true);
  const send = seen.find((s) => s.frame.op === 'send')!;
  assert.equal(send.frame.body, encodeBase64url(sentBody));
});

test("a browser-like socket (binaryType 'blob') is switched to 'arraybuffer' and then speaks binary", async () => {
  let current = '';
  // As a browser's WebSocket: binary frames as Blobs unless told otherwise.
  class BrowserLike extends WebSocket {
    constructor(url: string) {
      super(url);
      current = 'blob';
      const set = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'binaryType')!.set!;
      Object.defineProperty(this, 'binaryType', {
        get: () => current,
        set: (v: string) => {
          current = v;
          set.call(this, v);
        },
      });
    }
  }
  const { seen } = await roundTrip(4, BrowserLike as unknown as WebSocketCtor);
  assert.equal(current, 'arraybuffer');
  assert.equal(seen.find((s) => s.frame.op === 'subscribe')!.frame.binary, true);
  assert.equal(seen.find((s) => s.frame.op === 'send')!.binary, true);
});

test("a socket that cannot read binary frames synchronously stays on JSON with a protocol-4 relay", async () => {
  // As a WebSocket implementation whose binaryType cannot be set to arraybuffer (or has none).
  class NoBinary extends WebSocket {
    constructor(url: string) {
      super(url);
      Object.defineProperty(this, 'binaryType', { get: () => 'blob', set: () => undefined });
    }
  }
  const { seen } = await roundTrip(4, NoBinary as unknown as WebSocketCtor);
  assert.ok(seen.every((s) => !s.binary));
  assert.equal('binary' in seen.find((s) => s.frame.op === 'subscribe')!.frame, false);
});
