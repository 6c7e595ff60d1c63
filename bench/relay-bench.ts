/**
 * Relay benchmark (PROTOCOL.md §3.8). The relay is a real `latch server` child process (rate
 * limits off, loopback), so its CPU time can be read from /proc apart from the clients'.
 *   1. Full cycle, durable: send -> deliver -> ack, 1 KiB bodies, 256 in flight over 1,000
 *      queues, over the WebSocket (protocol 2), then the same over HTTP (sends, fetches and acks
 *      over HTTP, the socket only for wakes: protocol 1). Throughput, p50/p99 of send-to-yield,
 *      relay CPU per message.
 *   2. RSS per subscribed idle queue, at 10,000 queues, on a fresh relay process.
 *   3. Baseline: a plain `ws` echo on loopback, same process.
 * Bounded loops; figures printed, never asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { queueIdFromPublicKey, type QueueKeyPair } from '../src/protocol/queue-id.js';
import { sodiumReady, type Sodium } from '../src/protocol/sodium.js';
import { signRelayProof } from '../src/relay/relay-proof.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { cpuNs, rssBytes } from './process-cpu.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const QUEUES = 1000;
const IN_FLIGHT = 256;
const SOCKET_MESSAGES = 20_000;
const HTTP_MESSAGES = 2_000;
const IDLE_QUEUES = 10_000;
const ECHO = 2000;

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
export const ms = (x: number): string => `${x.toFixed(2)} ms`;

async function startRelay(dataDir: string, nodeFlags: string[] = []): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [...nodeFlags, CLI, 'server', '--listen', '127.0.0.1:0', '--data', dataDir, '--rate-limit', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The first 4 KiB of stderr are kept (the inspector's URL); the rest is read and dropped.
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    if (err.length < 4096) err += c;
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`bench: relay exited (${code})`)));
  });
  return { url, child, stderr: () => err };
}

/**
 * How `ws` masks and unmasks frames here: with bufferutil's native code (an optional dependency
 * with prebuilt binaries for Linux x64, macOS and Windows) or in JavaScript: bufferutil's own
 * fallback where its native code did not load, or ws's loop where bufferutil is missing. About 5%
 * fewer messages/s in this bench without the native code (PROTOCOL.md §3.8). Printed so a figure
 * says which it was.
 */
function wsMasking(): string {
  if (process.env.WS_NO_BUFFER_UTIL) return 'in JavaScript (WS_NO_BUFFER_UTIL set)';
  const require = createRequire(import.meta.url);
  try {
    // bufferutil's index falls back to fallback.js itself, without throwing.
    return require('bufferutil') === require('bufferutil/fallback') ? 'in JavaScript (bufferutil has no native build here)' : 'native (bufferutil)';
  } catch {
    return 'in JavaScript (bufferutil is not installed)';
  }
}

function newKeys(sodium: Sodium, n: number): QueueKeyPair[] {
  return Array.from({ length: n }, () => {
    const kp = sodium.crypto_sign_keypair();
    return { publicKey: kp.publicKey, secretKey: kp.privateKey };
  });
}

export interface CycleResult {
  perSec: number;
  p50: number;
  p99: number;
  relayCpuUsPerMsg: number;
  clientCpuUsPerMsg: number;
}

/**
 * send -> deliver (or wake + fetch) -> ack, `total` messages, IN_FLIGHT at a time over QUEUES
 * queues. The reader may use another relay node (`readerUrl`, issue 10); `pids` are the relay
 * processes whose CPU is counted.
 */
export async function fullCycle(sodium: Sodium, url: string, pid: number | number[], total: number, socket: boolean, readerUrl = url, early = false): Promise<CycleResult> {
  const pids = typeof pid === 'number' ? [pid] : pid;
  const relayCpuNow = (): number => pids.reduce((a, p) => a + cpuNs(p), 0);
  const keys = newKeys(sodium, QUEUES);
  const ids = keys.map((k) => queueIdFromPublicKey(sodium, k.publicKey));
  const byId = new Map(keys.map((k, i) => [ids[i]!, k]));
  const writer = new RelayClient({ url, socketDelivery: socket });
  const reader = new RelayClient({ url: readerUrl, socketDelivery: socket });
  const release = socket ? writer.hold() : () => {};
  const ac = new AbortController();
  const sentAt = new Float64Array(total);
  const lat: number[] = [];
  /**
   * Acks not yet confirmed. Awaited before the reader closes: a closing socket sends what is still
   * unconfirmed over HTTP, each with a signed proof, and those landed in the next measurement.
   */
  const acking = new Set<Promise<unknown>>();
  let connected!: () => void;
  const up = new Promise<void>((r) => (connected = r));
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const reading = (async () => {
    for await (const { queueId, message } of reader.inboxes(keys, { signal: ac.signal, early, onStatus: (s) => s === 'connected' && connected() })) {
      const i = new DataView(message.body.buffer, message.body.byteOffset).getUint32(0);
      lat.push(performance.now() - sentAt[i]!);
      const acked = reader.ack(byId.get(queueId)!, [message.id]).catch(() => undefined);
      acking.add(acked);
      void acked.then(() => acking.delete(acked));
      if (lat.length === total) done();
    }
  })();
  await up;
  await new Promise((r) => setTimeout(r, 500)); // the writer's socket, too
  const cpu0 = relayCpuNow();
  const client0 = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < total) {
        const i = next++;
        const body = new Uint8Array(1024);
        new DataView(body.buffer).setUint32(0, i);
        sentAt[i] = performance.now();
        await writer.send(ids[i % QUEUES]!, body);
      }
    }),
  );
  await all;
  const wall = performance.now() - start;
  const client = process.cpuUsage(client0);
  const relayCpu = relayCpuNow() - cpu0;
  await Promise.all([...acking]);
  release();
  ac.abort();
  await reading.catch(() => undefined);
  lat.sort((a, b) => a - b);
  return {
    perSec: (total / wall) * 1000,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    relayCpuUsPerMsg: relayCpu / 1000 / total,
    clientCpuUsPerMsg: (client.user + client.system) / total,
  };
}

/** Opens sockets from several loopback source addresses (per-IP caps, §3.5) and subscribes `n` queues. */
async function idleSubscriptions(sodium: Sodium, url: string, n: number): Promise<WebSocket[]> {
  const keys = newKeys(sodium, n);
  const sockets: WebSocket[] = [];
  const ts = Math.floor(Date.now() / 1000);
  for (let start = 0; start < n; start += 1000) {
    const socketNo = start / 1000;
    const localAddress = `127.0.0.${2 + Math.floor(socketNo / 4)}`; // 4 sockets x 1000 = the 4000 per-IP cap
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { localAddress });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const batch = keys.slice(start, start + 1000);
    let confirmed = 0;
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (d) => {
        const f = JSON.parse(String(d)) as { op: string; code?: string };
        if (f.op === 'error') reject(new Error(`bench: subscribe refused: ${f.code}`));
        if (f.op === 'subscribed' && ++confirmed === batch.length) resolve();
      });
      for (const k of batch) {
        const id = queueIdFromPublicKey(sodium, k.publicKey);
        ws.send(JSON.stringify({ op: 'subscribe', queue: id, auth: signRelayProof(sodium, k, 'SUBSCRIBE', `/v1/queues/${id}`, ts), deliver: true }));
      }
    });
    sockets.push(ws);
  }
  return sockets;
}

/**
 * RSS per subscribed idle queue, on a relay of its own: on the relay that just carried the full
 * cycles, the garbage of 40,000 messages was collected between the two readings and the figure
 * came out negative (-449 and -586 bytes in two runs).
 */
async function idleRss(sodium: Sodium): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'latch-relay-idle-'));
  // The relay's inspector (loopback, this bench only) lets each reading follow a full garbage
  // collection, so the figure is what the subscriptions hold, not what their frames left behind.
  const { url, child, stderr } = await startRelay(dataDir, ['--inspect=127.0.0.1:0']);
  const pid = child.pid!;
  const inspector = await relayInspector(stderr);
  // RSS, and the JS heap in use (RSS keeps pages V8 has freed but not yet given back).
  const settled = async (): Promise<{ rss: number; heap: number }> => {
    await new Promise((r) => setTimeout(r, 500));
    await inspector.call('HeapProfiler.collectGarbage');
    await new Promise((r) => setTimeout(r, 500));
    const heap = (await inspector.call('Runtime.getHeapUsage')) as { usedSize: number };
    return { rss: rssBytes(pid), heap: heap.usedSize };
  };
  try {
    const before = await settled();
    const sockets = await idleSubscriptions(sodium, url, IDLE_QUEUES);
    const after = await settled();
    for (const s of sockets) s.close();
    const per = (a: number, b: number): string => ((b - a) / IDLE_QUEUES).toFixed(0);
    return (
      `${IDLE_QUEUES} subscribed idle queues on ${sockets.length} sockets, a fresh relay, after a full GC: RSS ${(before.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB, ` +
      `${per(before.rss, after.rss)} bytes per queue; JS heap in use ${per(before.heap, after.heap)} bytes per queue`
    );
  } finally {
    inspector.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The Chrome DevTools protocol of a child started with --inspect, from the URL it prints on stderr. */
async function relayInspector(stderr: () => string): Promise<{ call: (method: string) => Promise<unknown>; close: () => void }> {
  // Printed at start, before the relay listens; stderr is another pipe, so it may arrive a little later.
  let wsUrl: string | undefined;
  for (let i = 0; i < 100 && wsUrl === undefined; i++) {
    wsUrl = /Debugger listening on (ws:\/\/\S+)/.exec(stderr())?.[1];
    if (wsUrl === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  if (wsUrl === undefined) throw new Error('bench: the relay printed no inspector URL');
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  return {
    call: (method) =>
      new Promise<unknown>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ id, method }));
      }),
    close: () => ws.close(),
  };
}

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
  const { url, child } = await startRelay(dataDir);
  const pid = child.pid!;
  const lines: string[] = [
    `relay bench: ${availableParallelism()} cores, loopback, relay in its own process, SQLite WAL, group commit (synchronous=FULL for batches with sends); WebSocket masking ${wsMasking()}`,
  ];
  try {
    const line = (what: string, r: CycleResult): string =>
      `${what}: ${r.perSec.toFixed(0)} msgs/s, send-to-yield p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, relay CPU ${r.relayCpuUsPerMsg.toFixed(0)} us/msg (clients ${r.clientCpuUsPerMsg.toFixed(0)} us/msg)`;
    // Not counted: whichever row ran first was 10-20% slower (PROTOCOL.md §3.8, "sixth session";
    // a warm-up of 3,000 messages was not enough). Mostly code warming up: this process, which
    // touches no files, spent as much more CPU per message in its first cycle as the relay did.
    // The rows then measure both as they run for a while.
    await fullCycle(sodium, url, pid, SOCKET_MESSAGES, true);
    const ws = await fullCycle(sodium, url, pid, SOCKET_MESSAGES, true);
    lines.push(line(`full cycle over the WebSocket (send, deliver, ack), 1 KiB, ${IN_FLIGHT} in flight, ${QUEUES} queues, ${SOCKET_MESSAGES} msgs`, ws));
    // The readers Latch runs itself (authenticators, the computer's answer inbox) ask for early
    // delivery (§3.6): the message before its commit; the sender's "stored" still after it.
    const early = await fullCycle(sodium, url, pid, SOCKET_MESSAGES, true, url, true);
    lines.push(line(`the same, the reader asking for early delivery (before the commit; "stored" still after it)`, early));
    const http = await fullCycle(sodium, url, pid, HTTP_MESSAGES, false);
    lines.push(line(`full cycle over HTTP (send, wake, fetch, ack), same load, ${HTTP_MESSAGES} msgs`, http));
    lines.push(`socket / HTTP: ${(ws.perSec / http.perSec).toFixed(1)}x the throughput, ${(http.relayCpuUsPerMsg / ws.relayCpuUsPerMsg).toFixed(1)}x less relay CPU per message (aim: >= 20,000 msgs/s over the socket)`);

    lines.push(await idleRss(sodium));

    const echo = await echoBaseline();
    lines.push(`baseline ws echo, ${ECHO} msgs sequential: p50 ${ms(echo.p50)}, p99 ${ms(echo.p99)}, ${echo.perSec.toFixed(0)} msgs/s`);
    lines.push(`relay full-cycle p50 / ws echo p50: ${(ws.p50 / echo.p50).toFixed(1)}x (the relay p50 is under load, the echo is not)`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
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
