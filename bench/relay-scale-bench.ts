/**
 * The relay past one machine (issue 10; docs/SCALING.md). Real processes on loopback:
 *   1. Full cycle over the WebSocket (send -> deliver -> ack, durable, 1 KiB, 256 in flight over
 *      1,000 queues): embedded SQLite; JetStream with one NATS node; JetStream with three NATS
 *      nodes at R3, writer on latch node A and reader on latch node B (every delivery crosses
 *      nodes over core NATS). msgs/s, send-to-yield p50/p99.
 *   2. Failover stall: the same three-node setup under a steady 64-in-flight load; kill -9 the
 *      reader's latch node and one NATS node; the longest gap between two deliveries, and how
 *      long until a message sent after the kill reaches the reader.
 * Figures printed, never asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueIdFromPublicKey } from '../src/protocol/queue-id.js';
import { sodiumReady, type Sodium } from '../src/protocol/sodium.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { startNats, type NatsCluster } from '../test/helpers/nats-cluster.js';
import { fullCycle, ms, type CycleResult } from './relay-bench.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MESSAGES = 5000;
const STALL_QUEUES = 50;
// Few enough that the reader keeps up: the gap then measures the failover, not a backlog.
const STALL_IN_FLIGHT = 4;
const STALL_BEFORE_MS = 2000;
const STALL_AFTER_MS = 15000;

interface Node {
  url: string;
  child: ChildProcess;
  dir: string;
}

async function startNode(args: string[] = []): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-scale-bench-'));
  const child = spawn(process.execPath, [CLI, 'server', '--listen', '127.0.0.1:0', '--data', dir, '--rate-limit', 'off', '--no-custody', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    if (err.length < 20_000) err += c;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`bench: latch server exited (${code}): ${err}`)));
  });
  return { url, child, dir };
}

async function stopNode(n: Node): Promise<void> {
  if (n.child.exitCode === null && n.child.signalCode === null) {
    const gone = new Promise((r) => n.child.once('exit', r));
    n.child.kill('SIGTERM');
    await gone;
  }
  rmSync(n.dir, { recursive: true, force: true });
}

const row = (what: string, r: CycleResult): string =>
  `${what}: ${r.perSec.toFixed(0)} msgs/s, send-to-yield p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, latch CPU ${r.relayCpuUsPerMsg.toFixed(0)} us/msg`;

/** Steady load across a kill -9 of the reader's latch node and one NATS node. */
async function failoverStall(sodium: Sodium, nats: NatsCluster, nodes: Node[]): Promise<string> {
  const keys = Array.from({ length: STALL_QUEUES }, () => {
    const kp = sodium.crypto_sign_keypair();
    return { publicKey: kp.publicKey, secretKey: kp.privateKey };
  });
  const ids = keys.map((k) => queueIdFromPublicKey(sodium, k.publicKey));
  const byId = new Map(keys.map((k, i) => [ids[i]!, k]));
  const order = (first: number): string => nodes.map((_, i) => nodes[(first + i) % nodes.length]!.url).join(',');
  const writer = new RelayClient({ url: order(0), safetyPollMs: 5000 });
  const reader = new RelayClient({ url: order(1), safetyPollMs: 5000 });
  const release = writer.hold();
  const ac = new AbortController();
  let last = 0;
  let maxGap = 0;
  let killedAt = 0;
  let killIndex = Infinity;
  let resumedAt = 0;
  let readerError: unknown;
  let delivered = 0;
  let connected!: () => void;
  const up = new Promise<void>((r) => (connected = r));
  const reading = (async () => {
    for await (const { queueId, message } of reader.inboxes(keys, { signal: ac.signal, onStatus: (s) => s === 'connected' && connected() })) {
      const now = performance.now();
      delivered++;
      if (last > 0 && killedAt > 0) maxGap = Math.max(maxGap, now - last);
      last = now;
      const i = new DataView(message.body.buffer, message.body.byteOffset).getUint32(0);
      if (killedAt > 0 && resumedAt === 0 && i >= killIndex) resumedAt = now;
      reader.ack(byId.get(queueId)!, [message.id]).catch(() => undefined);
    }
  })().catch((e: unknown) => {
    if (!ac.signal.aborted) readerError = e;
  });
  await up;
  let next = 0;
  let failed = 0;
  // The writer's view: the longest wait between two acknowledged sends across the kill. When it
  // is as long as the reader's gap, the stall is JetStream electing a leader, not the move to a new node.
  let lastStored = 0;
  let maxStoreGap = 0;
  const start = performance.now();
  const sending = Promise.all(
    Array.from({ length: STALL_IN_FLIGHT }, async () => {
      while (performance.now() - start < STALL_BEFORE_MS + STALL_AFTER_MS) {
        const i = next++;
        const body = new Uint8Array(1024);
        new DataView(body.buffer).setUint32(0, i);
        const ok = await writer.send(ids[i % STALL_QUEUES]!, body, { retryForMs: 30_000 }).then(
          () => true,
          () => false,
        );
        if (!ok) failed++;
        const now = performance.now();
        if (ok && killedAt > 0) {
          if (lastStored > 0) maxStoreGap = Math.max(maxStoreGap, now - lastStored);
          lastStored = now;
        } else if (ok) lastStored = now;
      }
    }),
  );
  await new Promise((r) => setTimeout(r, STALL_BEFORE_MS));
  // From the last delivery before the kill, so the gap covers the whole outage.
  killedAt = performance.now();
  killIndex = next;
  nodes[1]!.child.kill('SIGKILL');
  await nats.nodes[0]!.kill9();
  await sending;
  await new Promise((r) => setTimeout(r, 500));
  ac.abort();
  release();
  await reading;
  return (
    `failover stall, 3 NATS nodes R3 + 3 latch nodes, ${STALL_IN_FLIGHT} sends in flight, kill -9 of the reader's latch node and one NATS node: ` +
    `longest gap between deliveries ${ms(maxGap)} (between acknowledged sends ${ms(maxStoreGap)}), first message sent after the kill delivered ${resumedAt > 0 ? ms(resumedAt - killedAt) : 'never'} after it; ` +
    `${next} sends, ${failed} failed, ${delivered} deliveries` +
    (readerError !== undefined ? `; the reader stopped: ${readerError instanceof Error ? readerError.message : String(readerError)}` : '')
  );
}

export async function relayScaleBench(): Promise<string[]> {
  const sodium = await sodiumReady();
  const lines: string[] = [
    `relay scale bench: loopback, every process on this machine; JetStream file storage, nats-server's own sync settings (2.9: no sync_interval)`,
  ];

  // LATCH_BENCH_STALL_ONLY=1: only the failover stall (the slow part to repeat).
  const cycles = process.env.LATCH_BENCH_STALL_ONLY !== '1';
  const sqlite = await startNode();
  try {
    if (cycles) lines.push(row(`SQLite, 1 node, ${MESSAGES} msgs`, await fullCycle(sodium, sqlite.url, sqlite.child.pid!, MESSAGES, true)));
  } finally {
    await stopNode(sqlite);
  }

  const one = await startNats(1);
  try {
    const node = await startNode(['--relay-store', one.urls]);
    try {
      if (cycles) lines.push(row(`JetStream, 1 NATS node, 1 latch node, ${MESSAGES} msgs`, await fullCycle(sodium, node.url, node.child.pid!, MESSAGES, true)));
    } finally {
      await stopNode(node);
    }
  } finally {
    await one.stop();
  }

  const three = await startNats(3);
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startNode(['--relay-store', three.urls]));
    if (cycles) lines.push(
      row(
        `JetStream, 3 NATS nodes R3, writer on latch node A, reader on node B, ${MESSAGES} msgs`,
        await fullCycle(sodium, nodes[0]!.url, [nodes[0]!.child.pid!, nodes[1]!.child.pid!], MESSAGES, true, nodes[1]!.url),
      ),
    );
    lines.push(await failoverStall(sodium, three, nodes));
  } finally {
    for (const n of nodes) await stopNode(n).catch(() => undefined);
    await three.stop();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  relayScaleBench().then(
    (lines) => {
      console.log(lines.join('\n'));
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
