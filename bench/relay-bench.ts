/**
 * Relay round-trip benchmark (PROTOCOL.md §3.8). In-process relay via startServer with rate
 * limits off, loopback only, bounded loops. Baseline: a plain `ws` echo on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { queueIdFromPublicKey, type QueueKeyPair } from '../src/protocol/queue-id.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { startServer } from '../src/server/start-server.js';
import { RelayClient } from '../src/transport/relay-client.js';

const SEQUENTIAL = 500;
const QUEUES = 1000;
const ECHO = 2000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function echoBaseline(): Promise<{ p50: number; p99: number; perSec: number }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  const port = (wss.address() as { port: number }).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise<void>((r) => ws.once('open', () => r()));
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < ECHO; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      ws.once('message', () => r());
      ws.send('x'.repeat(64));
    });
    lat.push(performance.now() - t);
  }
  const total = performance.now() - start;
  ws.close();
  await new Promise<void>((r) => wss.close(() => r()));
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSec: (ECHO / total) * 1000 };
}

export async function relayBench(): Promise<string[]> {
  const sodium = await sodiumReady();
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-relay-bench-'));
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, rateLimit: false });
  const lines: string[] = [`relay bench: ${availableParallelism()} cores, loopback, SQLite WAL (FULL sync for sends, NORMAL for acks)`];
  try {
    const client = new RelayClient({ url: server.url });
    const newKey = (): QueueKeyPair => {
      const kp = sodium.crypto_sign_keypair();
      return { publicKey: kp.publicKey, secretKey: kp.privateKey };
    };

    // One queue, sequential: send -> WebSocket wake -> fetch -> ack.
    const key = newKey();
    const qid = queueIdFromPublicKey(sodium, key.publicKey);
    const ac = new AbortController();
    const it = client.inbox(key, { signal: ac.signal })[Symbol.asyncIterator]();
    await client.send(qid, new Uint8Array(64)); // warm-up, and lets the WebSocket subscribe
    const warm = await it.next();
    if (!warm.done) await client.ack(key, [warm.value.id]);
    const lat: number[] = [];
    const start = performance.now();
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t = performance.now();
      const next = it.next();
      await client.send(qid, new Uint8Array(64));
      const r = await next;
      if (r.done) throw new Error('inbox ended');
      await client.ack(key, [r.value.id]);
      lat.push(performance.now() - t);
    }
    const total = performance.now() - start;
    ac.abort();
    await it.next();
    lat.sort((a, b) => a - b);
    const relayP50 = pct(lat, 50);
    lines.push(
      `relay round trip, 1 queue, ${SEQUENTIAL} msgs: p50 ${ms(relayP50)}, p99 ${ms(pct(lat, 99))}, ${((SEQUENTIAL / total) * 1000).toFixed(0)} msgs/s`,
    );

    // 1,000 queues, one message each, all in flight at once over one subscriber socket.
    const keys = Array.from({ length: QUEUES }, newKey);
    const ids = keys.map((k) => queueIdFromPublicKey(sodium, k.publicKey));
    const ac2 = new AbortController();
    const it2 = client.inboxes(keys, { signal: ac2.signal })[Symbol.asyncIterator]();
    const first = it2.next(); // starts the subscriber
    await new Promise((r) => setTimeout(r, 500));
    const start2 = performance.now();
    await Promise.all(ids.map((id) => client.send(id, new Uint8Array(64))));
    const byQueue = new Map(keys.map((k, i) => [ids[i]!, k]));
    const acks: Promise<void>[] = [];
    let got = 0;
    for (let r = await first; !r.done; r = await it2.next()) {
      acks.push(client.ack(byQueue.get(r.value.queueId)!, [r.value.message.id]));
      if (++got === QUEUES) break;
    }
    await Promise.all(acks);
    const total2 = performance.now() - start2;
    ac2.abort();
    await it2.return?.(undefined);
    lines.push(`relay, ${QUEUES} concurrent queues: ${((QUEUES / total2) * 1000).toFixed(0)} msgs/s (send + wake + fetch + ack)`);

    const echo = await echoBaseline();
    lines.push(`baseline ws echo, ${ECHO} msgs: p50 ${ms(echo.p50)}, p99 ${ms(echo.p99)}, ${echo.perSec.toFixed(0)} msgs/s`);
    lines.push(`relay p50 / ws echo p50: ${(relayP50 / echo.p50).toFixed(1)}x (relay does 3 HTTP requests, a durable SQLite commit and a wake)`);
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  relayBench().then(
    (lines) => console.log(lines.join('\n')),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
