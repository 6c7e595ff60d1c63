/**
 * Runs the real `latch` CLI (dist/src/cli/main.js) as child processes, one LATCH_HOME per
 * party, and watches their output.
 */
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { custodyDatabaseFor, custodyDatabaseOf, custodyOnPg } from './custody-pg.js';

export const LATCH_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
export const PASSPHRASE = 'correct horse battery staple';

export interface LatchProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in the stream so far or later. */
  waitFor(re: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const all: ChildProcess[] = [];
const killAll = (): void => {
  for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
// A failed assertion must not leave a `device run` behind that keeps the test file alive.
after(killAll);
process.on('exit', killAll);

/** Kills `child`, if it still runs, once the test file's tests are done or the process exits. */
export function killWhenDone(child: ChildProcess): void {
  all.push(child);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `latch-test-${prefix}-`));
}

/** `stdin: 'pipe'`: the test answers prompts through `child.stdin` (otherwise stdin is /dev/null). */
export function latch(args: string[], opts: { home?: string; env?: NodeJS.ProcessEnv; stdin?: 'pipe' } = {}): LatchProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, LATCH_PASSPHRASE: PASSPHRASE, ...opts.env };
  // `latch server audit verify --data D` of a server whose custody is in PostgreSQL (custody-pg.ts).
  const data = args[0] === 'server' && args[1] === 'audit' ? args[args.indexOf('--data') + 1] : undefined;
  const db = data !== undefined && env.LATCH_CUSTODY_DB === undefined ? custodyDatabaseOf(data) : undefined;
  if (db !== undefined) env.LATCH_CUSTODY_DB = db;
  if (opts.home) env.LATCH_HOME = opts.home;
  const child = spawn(process.execPath, [LATCH_CLI, ...args], { env, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  killWhenDone(child);
  const buf = { stdout: '', stderr: '' };
  const waiters: { re: RegExp; stream: 'stdout' | 'stderr'; resolve: (m: RegExpMatchArray) => void }[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (c: string) => {
      buf[stream] += c;
      for (const w of [...waiters]) {
        const m = w.stream === stream ? w.re.exec(buf[stream]) : null;
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => buf.stdout,
    stderr: () => buf.stderr,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor(re, stream = 'stderr', timeoutMs = 20_000) {
      const m = re.exec(buf[stream]);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} on ${stream} of latch ${args.join(' ')}\nstdout: ${buf.stdout}\nstderr: ${buf.stderr}`)),
          timeoutMs,
        );
        waiters.push({ re, stream, resolve: (x) => (clearTimeout(timer), resolve(x)) });
        void exited.then(({ code }) => {
          setTimeout(() => {
            clearTimeout(timer);
            reject(new Error(`latch ${args.join(' ')} exited (${code}) before ${re}\nstdout: ${buf.stdout}\nstderr: ${buf.stderr}`));
          }, 50);
        });
      });
    },
  };
}

/** Run to completion. */
export async function latchRun(args: string[], opts: { home?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = latch(args, opts);
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export interface LatchServer {
  url: string;
  port: number;
  dataDir: string;
  proc: LatchProcess;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** `latch server` as a child process; restartable on the same port and data dir. */
export async function startLatchServer(opts: { dataDir?: string; port?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<LatchServer> {
  const dataDir = opts.dataDir ?? tempDir('server');
  let env = opts.env;
  // LATCH_TEST_CUSTODY_PG=1: custody on a PostgreSQL database of this server's own (custody-pg.ts).
  const args = opts.args ?? [];
  if (custodyOnPg() && !args.includes('--no-custody') && !args.includes('--custody-db') && env?.LATCH_CUSTODY_DB === undefined) {
    env = { ...env, LATCH_CUSTODY_DB: await custodyDatabaseFor(dataDir) };
  }
  for (let attempt = 0; ; attempt++) {
    const proc = latch(['server', '--listen', `127.0.0.1:${opts.port ?? 0}`, '--data', dataDir, ...args], env ? { env } : {});
    try {
      const m = await proc.waitFor(/listening on (https?:\/\/127\.0\.0\.1:(\d+))/, 'stdout', 15_000);
      return {
        url: m[1]!,
        port: Number(m[2]),
        dataDir,
        proc,
        async kill9() {
          proc.kill('SIGKILL');
          await proc.exited;
        },
        async stop() {
          proc.kill('SIGTERM');
          await proc.exited;
        },
      };
    } catch (e) {
      proc.kill('SIGKILL');
      // A restart on the same port can race the kernel releasing it.
      if (attempt >= 20 || !/EADDRINUSE/.test(proc.stderr())) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A fresh authenticator home with `latch device init` done. */
export async function newAuthenticator(name: string): Promise<string> {
  const home = tempDir('phone');
  // The cheapest passphrase KDF: Argon2id at INTERACTIVE costs about 0.4 s of CPU in every CLI
  // process that opens the keystore, hundreds of times per run. The default is tested in
  // test/keystore-kdf.test.ts.
  const r = await latchRun(['device', 'init', '--name', name, '--kdf-cost', 'min'], { home });
  if (r.code !== 0) throw new Error(`device init failed: ${r.stderr}`);
  return home;
}

/** Pair a fresh computer home with `phone` through `server`; returns the computer home. */
export async function pairComputer(server: LatchServer, phone: string): Promise<string> {
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', server.url, '--uri-only', '--timeout', '30'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\/\/pair\?\S+/m, 'stdout');
  const dev = await latchRun(['device', 'pair', link], { home: phone });
  if (dev.code !== 0) throw new Error(`device pair failed: ${dev.stderr}`);
  const { code } = await pair.exited;
  if (code !== 0) throw new Error(`latch pair failed: ${pair.stderr()}`);
  return computer;
}

let shared: Promise<LatchServer> | undefined;
after(async () => {
  if (shared) await (await shared.catch(() => undefined))?.stop().catch(() => undefined);
});
/** One `latch server` for the whole test file that asks for it, stopped when the file ends. */
export function sharedLatchServer(): Promise<LatchServer> {
  shared ??= startLatchServer();
  return shared;
}
