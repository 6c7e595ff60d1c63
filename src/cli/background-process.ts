/**
 * Start a `latch` subcommand detached from this terminal, its output appended to a log file,
 * and return once the log shows it is ready (or fail with the log's last lines if it exits).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatchError } from '../util/latch-error.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));

export async function startInBackground(opts: { args: string[]; logFile: string; ready: RegExp; what: string; timeoutMs?: number }): Promise<{ pid: number }> {
  mkdirSync(dirname(opts.logFile), { recursive: true, mode: 0o700 });
  const fd = openSync(opts.logFile, 'a', 0o600);
  const start = statSync(opts.logFile).size; // only what this start writes counts
  const child = spawn(process.execPath, [CLI, ...opts.args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const log = readFileSync(opts.logFile).subarray(start).toString('utf8');
    if (opts.ready.test(log)) break;
    if (exited !== null || Date.now() > deadline) {
      if (exited === null) child.kill('SIGTERM');
      const tail = log.trim().split('\n').slice(-5).join('\n');
      throw new LatchError('background_start_failed', `${opts.what} did not start${exited !== null ? ` (exit ${exited})` : ' in time'}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.unref();
  return { pid: child.pid! };
}
