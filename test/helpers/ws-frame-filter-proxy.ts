/**
 * A TCP proxy in front of a `latch server` that can drop chosen client-to-relay HTTP requests
 * and WebSocket frames on `/v1/ws` (RFC 6455 §5.2), so that a test can stop a process at a point
 * it cannot reach with a signal alone: after its reply went out, before the relay heard its ack
 * (PROTOCOL.md §5.5).
 *
 * Everything else passes byte for byte, but for the upgrade, from which the proxy removes the
 * offer of permessage-deflate so that every frame can be read. Relay-to-client bytes are not
 * read. Client frames are masked and, from the `ws` library, never fragmented; a fragmented
 * frame, or a request body the proxy cannot frame, passes unread (the predicate never sees it),
 * so the proxy cannot drop anything it did not understand.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface WsFrameFilterProxy {
  /** `http://127.0.0.1:PORT`, to give to `latch pair --server`. */
  readonly url: string;
  /**
   * What `drop` returns true for is not forwarded: a WebSocket text frame (given as its text) or
   * a whole HTTP request (given as its request line, a newline, then its body). A dropped HTTP
   * request is never answered; the test kills its sender.
   */
  drop: (text: string) => boolean;
  /** How many frames and requests were dropped so far. */
  readonly dropped: number;
  close(): Promise<void>;
}

export async function startWsFrameFilterProxy(upstreamPort: number): Promise<WsFrameFilterProxy> {
  const sockets = new Set<Socket>();
  let dropped = 0;
  const proxy: WsFrameFilterProxy = {
    url: '',
    drop: () => false,
    get dropped() {
      return dropped;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const gone = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', gone).on('close', gone);
    upstream.on('error', gone).on('close', gone);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let mode: 'http' | 'frames' | 'pipe' = 'http';
    client.on('data', (chunk: Buffer) => {
      if (mode === 'pipe') return void upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (mode === 'http') {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = pending.subarray(0, end + 4).toString('latin1');
          if (/^GET \/v1\/ws[ ?]/.test(head) && /\r\nupgrade: *websocket/i.test(head)) {
            // No permessage-deflate, so that every frame can be read as sent.
            upstream.write(head.replace(/\r\nsec-websocket-extensions:[^\r]*/i, ''), 'latin1');
            pending = pending.subarray(end + 4);
            mode = 'frames';
            continue;
          }
          const length = /\r\ncontent-length: *([0-9]+)/i.exec(head);
          if (/\r\ntransfer-encoding:/i.test(head) || (length === null && !/^(GET|HEAD|DELETE) /.test(head))) {
            upstream.write(pending); // a body the proxy cannot frame: pass the rest unread
            mode = 'pipe';
            return;
          }
          const size = end + 4 + Number(length?.[1] ?? 0);
          if (pending.length < size) return;
          const raw = pending.subarray(0, size);
          pending = pending.subarray(size);
          const line = head.slice(0, head.indexOf('\r\n'));
          if (proxy.drop(`${line}\n${raw.subarray(end + 4).toString('utf8')}`)) dropped++;
          else upstream.write(raw);
          continue;
        }
        const frame = readFrame(pending);
        if (frame === undefined) return;
        const raw = pending.subarray(0, frame.size);
        pending = pending.subarray(frame.size);
        if (frame.text !== undefined && proxy.drop(frame.text)) dropped++;
        else upstream.write(raw);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  (proxy as { url: string }).url = `http://127.0.0.1:${port}`;
  return proxy;
}

/** One complete client frame at the start of `buf`: its size, and its text if it is a whole, masked text frame. */
function readFrame(buf: Buffer): { size: number; text?: string } | undefined {
  if (buf.length < 2) return undefined;
  const fin = (buf[0]! & 0x80) !== 0;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(64 * 1024 * 1024)) throw new Error('ws-frame-filter-proxy: frame too large for a test');
    len = Number(big);
    at = 10;
  }
  const maskAt = at;
  if (masked) at += 4;
  if (buf.length < at + len) return undefined;
  if (!fin || opcode !== 0x1 || !masked) return { size: at + len };
  const payload = Buffer.from(buf.subarray(at, at + len));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= buf[maskAt + (i % 4)]!;
  return { size: at + len, text: payload.toString('utf8') };
}
