/**
 * The relay as a real child process (`latch server`), so tests can kill -9 it and restart it
 * on the same port and data directory. A thin view over startLatchServer for the relay tests.
 */
import type { ChildProcess } from 'node:child_process';
import { startLatchServer, tempDir } from './latch-process.js';
import { startNats, type NatsCluster } from './nats-cluster.js';

/**
 * `LATCH_TEST_RELAY_STORE=jetstream` runs every relay this helper starts on JetStream instead of
 * SQLite (issue 10: the same suite against both stores; see test/*-jetstream.test.ts): each new
 * data dir gets its own nats-server, and a relay restarted on that data dir finds it again.
 */
const natsByDataDir = new Map<string, Promise<NatsCluster>>();

export interface RelayProcess {
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the child wrote to stderr so far (its log). */
  stderr(): string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRelayProcess(opts: { dataDir?: string; port?: number; args?: string[] } = {}): Promise<RelayProcess> {
  if (process.env.LATCH_TEST_RELAY_STORE === 'jetstream') {
    const dataDir = opts.dataDir ?? tempDir('server');
    let nats = natsByDataDir.get(dataDir);
    if (nats === undefined) {
      nats = startNats(1);
      natsByDataDir.set(dataDir, nats);
    }
    opts = { ...opts, dataDir, args: [...(opts.args ?? []), '--relay-store', (await nats).urls] };
  }
  const s = await startLatchServer(opts);
  return { url: s.url, port: s.port, dataDir: s.dataDir, child: s.proc.child, stderr: () => s.proc.stderr(), kill9: () => s.kill9(), stop: () => s.stop() };
}
