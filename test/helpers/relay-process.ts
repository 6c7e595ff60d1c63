/**
 * The relay as a real child process (`latch server`), so tests can kill -9 it and restart it
 * on the same port and data directory. A thin view over startLatchServer for the relay tests.
 */
import type { ChildProcess } from 'node:child_process';
import { startLatchServer } from './latch-process.js';

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
  const s = await startLatchServer(opts);
  return { url: s.url, port: s.port, dataDir: s.dataDir, child: s.proc.child, stderr: () => s.proc.stderr(), kill9: () => s.kill9(), stop: () => s.stop() };
}
