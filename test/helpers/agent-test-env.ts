/** Test helper: temp dirs, a real upstream `ssh-agent`, and small process utilities. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program asynchronously (our agent runs in this process, so never block it). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Uint8Array; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export async function waitForSocket(p: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.createConnection(p);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`socket ${p} never came up`);
}

/** Start OpenSSH's own ssh-agent in the foreground on `socketPath`. */
export async function startSshAgent(socketPath: string): Promise<{ stop(): Promise<void> }> {
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', socketPath], { stdio: 'ignore' });
  await waitForSocket(socketPath);
  return {
    stop: async () => {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
    },
  };
}

/**
 * Resolves once this computer's clock is past `unixSeconds`: for behaviour defined by the clock
 * (a request's deadline), the event to wait for is the clock itself.
 */
export async function untilClockPasses(unixSeconds: number): Promise<void> {
  while (Date.now() / 1000 <= unixSeconds) await new Promise((r) => setTimeout(r, 200));
}
