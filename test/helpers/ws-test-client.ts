/**
 * A raw `/v1/ws` client for the relay tests: frames queue up until taken, `next()` waits up to
 * 10 s for one, and the relay's first frame (`ready`, §3.5) is checked before it is handed over.
 */
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';

export interface WsTestClient {
  readonly ws: WebSocket;
  /** Frames received and not yet taken; a binary frame is `{ binary: Buffer }`. */
  readonly frames: any[];
  next(): Promise<any>;
  /** Objects are sent as JSON, strings as they are, bytes as a binary frame. */
  send(v: unknown): void;
  /** The close code, once the socket closed. */
  readonly closed: Promise<number>;
  close(): void;
}

/** `maxMessageBytes`: what the `ready` frame must say; unchecked when not given. */
export async function openWsClient(relayUrl: string, maxMessageBytes?: number): Promise<WsTestClient> {
  const ws = new WebSocket(relayUrl.replace('http', 'ws') + '/v1/ws');
  const frames: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  ws.on('message', (data, isBinary) => {
    const v = isBinary ? { binary: data as Buffer } : JSON.parse(String(data));
    const w = waiters.shift();
    if (w) w(v);
    else frames.push(v);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  const c: WsTestClient = {
    ws,
    frames,
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
    send: (v) => ws.send(typeof v === 'string' || v instanceof Uint8Array ? v : JSON.stringify(v)),
    closed,
    close: () => ws.close(),
  };
  // A protocol-2 (or later) relay speaks first (§3.5).
  const ready = await c.next();
  assert.equal(ready.op, 'ready');
  assert.equal(ready.protocol, 4);
  if (maxMessageBytes !== undefined) assert.equal(ready.max_message_bytes, maxMessageBytes);
  return c;
}
