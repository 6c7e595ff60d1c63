/**
 * Real `nats-server -js` processes for the tests (issue 10): one node, or three clustered on
 * loopback, on free ports, each with its own store directory. Nothing shared with the machine's
 * own NATS on 4222.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsNode {
  readonly url: string;
  readonly clientPort: number;
  child: ChildProcess;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: NatsNode[];
  /** Every node's client URL, comma-separated (what `--relay-store` takes). */
  readonly urls: string;
  stop(): Promise<void>;
}

// No node:test hook here: bench/ starts clusters with this helper too. Tests stop theirs in
// their own after(); whatever is left dies with the process.
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let syncInterval: boolean | undefined;
/** `sync_interval` exists from nats-server 2.10 on. */
function hasSyncInterval(): boolean {
  if (syncInterval === undefined) {
    const m = /v(\d+)\.(\d+)/.exec(execFileSync(NATS_SERVER, ['--version'], { encoding: 'utf8' }));
    syncInterval = m !== null && (Number(m[1]) > 2 || Number(m[2]) >= 10);
  }
  return syncInterval;
}

/**
 * A clustered start on loopback with nats-server 2.9 (this machine's) sometimes never elects a
 * JetStream metadata leader: the nodes dial each other at once, close each other's routes as
 * "Duplicate Route", and keep waiting for routing (3 in 150 starts here; a start that works takes
 * 0.15-0.6 s). Routing every node to one seed made it worse (most starts failed). So a start gets
 * this long, and a failed one is thrown away and made again on fresh ports.
 */
const START_WAIT_MS = 10_000;
const START_ATTEMPTS = 3;

/** Starts `size` JetStream nodes (1, or 3 clustered) and waits until JetStream is ready on each (clustered: a metadata leader is known). */
export async function startNats(size: 1 | 3 = 1): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(size);
    } catch (e) {
      if (attempt >= START_ATTEMPTS) throw e;
      process.stderr.write(`nats-cluster: start ${attempt} of ${START_ATTEMPTS} failed, starting again: ${String(e).split('\n')[0]}\n`);
    }
  }
}

async function startOnce(size: 1 | 3): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-test-nats-'));
  dirs.add(dir);
  const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = size > 1 ? await Promise.all(Array.from({ length: size }, () => freePort())) : [];
  const nodes: NatsNode[] = [];
  const starts: Promise<void>[] = [];
  for (let i = 0; i < size; i++) {
    const conf = join(dir, `n${i}.conf`);
    // sync_interval: always - "acknowledged" then means on disk on a quorum (docs/SCALING.md).
    // 2.9 (this machine's) has no such setting; it syncs every 2 minutes.
    const sync = hasSyncInterval() ? ', sync_interval: always' : '';
    const lines = [
      `server_name: n${i}`,
      `listen: 127.0.0.1:${clientPorts[i]}`,
      `jetstream { store_dir: "${join(dir, `n${i}`)}"${sync} }`,
    ];
    if (size > 1) {
      lines.push(
        `cluster { name: latchtest, listen: 127.0.0.1:${routePorts[i]}, routes: [${routePorts.map((p) => `nats://127.0.0.1:${p}`).join(', ')}] }`,
      );
    }
    writeFileSync(conf, lines.join('\n') + '\n');
    const child = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let log = '';
    let up = false;
    starts.push(
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nats-server n${i} did not start:\n${log}`)), START_WAIT_MS);
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (c: string) => {
          // Read on after the start (a full pipe would block the node), but act only once: an
          // unref() on a later line (a peer's route closing) undid kill9()'s ref(), so the
          // process could exit while it waited for the node's exit.
          if (up) return;
          if (log.length < 100_000) log += c;
          // Clustered, "ready" comes before the nodes have elected a JetStream metadata leader, and
          // until then every JetStream request times out (a `latch server` started at that moment
          // exits with "TimeoutError: timeout"): wait for each node to know the leader too.
          if (/Server is ready/.test(log) && (size === 1 || /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(log))) {
            up = true;
            clearTimeout(timer);
            // Once up, a NATS node must not keep a test file or the bench alive: it dies with the
            // process (below). Not before: while starting it is all the event loop waits on.
            child.unref();
            (child.stderr as unknown as { unref(): void }).unref();
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`nats-server n${i} exited (${code}):\n${log}`));
        });
        // A spawn that fails (EAGAIN, EMFILE under load) emits only 'error': a failed start, retried.
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(new Error(`nats-server n${i} did not spawn: ${e.message}`));
        });
      }),
    );
    const node: NatsNode = {
      url: `nats://127.0.0.1:${clientPorts[i]}`,
      clientPort: clientPorts[i]!,
      child,
      async kill9() {
        // A child that never spawned (pid undefined) has no exit to wait for.
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.ref(); // waiting for its exit must keep the process alive
        child.kill('SIGKILL');
        await gone;
      },
    };
    nodes.push(node);
  }
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill9()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(starts);
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, urls: nodes.map((n) => n.url).join(','), stop };
}
