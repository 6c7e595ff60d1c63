/**
 * Test helper for issue 3: a real relay, a real authenticator (`latch device run`, answering
 * from its stdin), a paired computer and its `latch agent`, all as child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LATCH_CLI, PASSPHRASE, killWhenDone, latch, latchRun, newAuthenticator, pairComputer, startLatchServer, tempDir, type LatchServer, type LatchProcess } from './latch-process.js';

export interface Watched {
  readonly child: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves when `re` matches the stream text after `from` (default: everything so far). */
  waitFor(re: RegExp, opts?: { stream?: 'stdout' | 'stderr'; from?: number; timeoutMs?: number }): Promise<RegExpMatchArray>;
  write(text: string): void;
  stop(): Promise<void>;
}

/** `latch ARGS` with a stdin pipe (for `device run`, which reads answers there). */
export function latchInteractive(args: string[], home: string, env: NodeJS.ProcessEnv = {}): Watched {
  const child = spawn(process.execPath, [LATCH_CLI, ...args], {
    env: { ...process.env, LATCH_PASSPHRASE: PASSPHRASE, LATCH_HOME: home, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const buf = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (buf.stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (buf.stderr += c));
  killWhenDone(child);
  return {
    child,
    stderr: () => buf.stderr,
    stdout: () => buf.stdout,
    async waitFor(re, opts = {}) {
      const stream = opts.stream ?? 'stderr';
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      for (;;) {
        const m = re.exec(buf[stream].slice(opts.from ?? 0));
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`latch ${args.join(' ')} exited before ${re}\n${buf.stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} on latch ${args.join(' ')}\n${buf[stream]}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    write: (text) => child.stdin!.write(text),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
    },
  };
}

export interface LatchSshEnv {
  server: LatchServer;
  phone: string;
  computer: string;
  device: Watched;
  agent: Watched;
  agentSocket: string;
  dir: string;
  /** authorized_keys lines of the authenticator's keys. */
  keys: string[];
  startDevice(args?: string[]): Promise<Watched>;
  stop(): Promise<void>;
}

export async function setupLatchSsh(opts: { extraKeys?: ('ed25519' | 'ecdsa')[]; deviceArgs?: string[]; agentArgs?: string[]; agentEnv?: NodeJS.ProcessEnv } = {}): Promise<LatchSshEnv> {
  const server = await startLatchServer();
  const phone = await newAuthenticator('test phone');
  let n = 0;
  for (const type of opts.extraKeys ?? []) {
    const r = await latchRun(['device', 'key', 'add', '--type', type, '--name', `extra${++n}`], { home: phone });
    if (r.code !== 0) throw new Error(`key add failed: ${r.stderr}`);
  }
  const computer = await pairComputer(server, phone);
  const list = await latchRun(['device', 'key', 'list'], { home: phone });
  const keys = list.stdout.trim().split('\n');
  const env: LatchSshEnv = {
    server,
    phone,
    computer,
    device: undefined as unknown as Watched,
    agent: undefined as unknown as Watched,
    agentSocket: '',
    dir: tempDir('agent'),
    keys,
    async startDevice(args = opts.deviceArgs ?? ['--prompt-timeout', '20']) {
      env.device = latchInteractive(['device', 'run', ...args], phone);
      await env.device.waitFor(/ready: waiting for requests from 1 paired computer/);
      return env.device;
    },
    async stop() {
      await env.agent?.stop();
      await env.device?.stop();
      await server.stop();
    },
  };
  fs.chmodSync(env.dir, 0o700);
  env.agentSocket = path.join(env.dir, 'agent.sock');
  await env.startDevice();
  env.agent = latchInteractive(['agent', '--socket', env.agentSocket, '--sign-timeout', '5', ...(opts.agentArgs ?? ['--no-upstream'])], computer, opts.agentEnv);
  await env.agent.waitFor(/agent listening on /);
  return env;
}

export { latch, latchRun, type LatchProcess };
