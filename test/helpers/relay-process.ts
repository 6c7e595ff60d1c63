/**
 * Spawns the relay as a real child process (dist/src/server/server-main.js), so tests
 * can kill -9 it and restart it on the same port and data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'server', 'server-main.js');

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

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRelayProcess(opts?: { dataDir?: string; port?: number; args?: string[] }): Promise<RelayProcess> {
  const dataDir = opts?.dataDir ?? mkdtempSync(join(tmpdir(), 'latch-relay-'));
  const port = opts?.port ?? 0;
  const args = [SERVER_MAIN, '--listen', `127.0.0.1:${port}`, '--data', dataDir, ...(opts?.args ?? [])];
  // A restart on the same port can race the kernel releasing it; retry briefly.
  for (let attempt = 0; ; attempt++) {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      err += c;
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`relay did not start in 10 s: ${err}`)), 10_000);
        child.stdout!.setEncoding('utf8');
        child.stdout!.on('data', (c: string) => {
          out += c;
          const m = /listening on (http:\/\/[^\s]+)\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`relay exited (${code ?? signal}) before listening: ${err}`));
        });
      });
      const actualPort = Number(new URL(url).port);
      return {
        url,
        port: actualPort,
        dataDir,
        child,
        stderr: () => err,
        async kill9() {
          child.kill('SIGKILL');
          await exited(child);
        },
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited(child);
          clearTimeout(t);
        },
      };
    } catch (e) {
      child.kill('SIGKILL');
      await exited(child);
      if (attempt < 20 && /EADDRINUSE/.test(err)) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      throw e;
    }
  }
}
