/**
 * A PostgreSQL server of a test's own (issue 10): Debian's `postgres` binary on a free loopback
 * port, with its data directory and Unix socket in a temp folder, trust auth, fsync left on. Tests
 * stop, kill -9 and restart it while `latch server` nodes use it; the machine's own PostgreSQL on
 * 5432, which other tests share, is never touched.
 *
 * PostgreSQL refuses to run as root, so initdb and the server run as the `postgres` OS user
 * (setpriv, which execs in place: the child we hold is the postmaster itself, so kill9() hits it
 * and not a wrapper).
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nats-cluster.js';

/** The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin), or PG_BIN. */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  if (majors.length === 0) throw new Error(`no PostgreSQL server under ${root} (apt-get install postgresql, see .ci/run)`);
  return join(root, majors[0]!, 'bin');
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth; the port stays the same across restarts). */
  readonly url: string;
  readonly port: number;
  /** Whether the server is up (started and not stopped or killed since). */
  readonly running: boolean;
  /** Starts the server again (after stop() or kill9()) on the same port and data. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT: open sessions are cut, nothing is waited for), then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster, then waits until its backends are gone too. */
  kill9(): Promise<void>;
  restart(): Promise<void>;
  /** One SQL statement through psql, as the postgres superuser; the rows, `|`-separated. */
  query(sql: string, database?: string): Promise<string>;
  /** Stops the server (if running) and removes its folder. */
  destroy(): Promise<void>;
}

// No node:test hook here (the bench uses this helper too): callers destroy() theirs; whatever is
// left dies with the process.
const live = new Set<{ child: ChildProcess | undefined; dir: string }>();
process.on('exit', () => {
  for (const s of live) {
    s.child?.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** argv that runs `cmd` as the postgres OS user when we are root; as ourselves otherwise. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [cmd, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]];
}

/** initdb in a fresh temp folder and start the server; `destroy()` it when done. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'latch-test-pg-'));
  const entry: { child: ChildProcess | undefined; dir: string } = { child: undefined, dir };
  live.add(entry);
  if (userInfo().uid === 0) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  // --no-sync: a throwaway cluster need not be flushed at creation (saves seconds); the server
  // itself keeps fsync on, so a kill -9 behaves as in production.
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  await new Promise<void>((resolve, reject) =>
    execFile(initCmd, initArgs, { cwd: dir, encoding: 'utf8' }, (err, _out, stderr) => (err ? reject(new Error(`initdb failed: ${stderr || err.message}`)) : resolve())),
  );

  let port = await freePort();
  let everStarted = false;
  let log = '';
  const up = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const [cmd, args] = asPostgres(join(bin, 'postgres'), [
        '-D', data,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        // Its own socket folder: nothing in /var/run/postgresql, which the machine's server owns.
        '-c', `unix_socket_directories=${dir}`,
        '-c', 'max_connections=200',
        '-c', 'shared_buffers=32MB',
      ]);
      const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      entry.child = child;
      log = '';
      const started = await new Promise<'ready' | string>((resolve) => {
        const timer = setTimeout(() => resolve(`did not start in 30 s:\n${log}`), 30_000);
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (c: string) => {
          if (log.length < 100_000) log += c;
          if (/database system is ready to accept connections/.test(log)) {
            clearTimeout(timer);
            resolve('ready');
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve(`exited (${code ?? signal}):\n${log}`);
        });
      });
      if (started === 'ready') {
        // Up, it must not keep a test file alive by itself (the exit hook above kills it).
        child.unref();
        (child.stderr as unknown as { unref(): void }).unref();
        return;
      }
      child.kill('SIGKILL');
      // The port taken meanwhile (first start only: a restart keeps its URL), or the old
      // postmaster's backends still holding the shared memory after a kill -9: try again.
      if (attempt < 40 && /could not bind|Address already in use/.test(started) && !everStarted) port = await freePort();
      else if (attempt >= 40 || !/could not bind|Address already in use|pre-existing shared memory|lock file .* already exists/.test(started)) {
        throw new Error(`private PostgreSQL ${started}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await up();
  everStarted = true;

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    const child = entry.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.ref(); // waiting for its exit must keep the process alive
    child.kill(signal);
    await gone;
  };
  const pg: PrivatePostgres = {
    get url() {
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    },
    get port() {
      return port;
    },
    get running() {
      const c = entry.child;
      return c !== undefined && c.exitCode === null && c.signalCode === null;
    },
    async start() {
      if (!pg.running) await up();
    },
    stop: () => waitExit('SIGINT'),
    async kill9() {
      await waitExit('SIGKILL');
      // The postmaster's backends notice its death and exit on their own; until they have, the
      // shared memory is in use and a new postmaster refuses to start. up() retries on that too;
      // waiting here makes kill9() mean "down, all of it".
      for (let i = 0; i < 200 && backendsAlive(data); i++) await new Promise((r) => setTimeout(r, 25));
    },
    async restart() {
      await pg.stop();
      await up();
    },
    async query(sql, database = 'postgres') {
      const [cmd, args] = asPostgres(join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql]);
      return new Promise((resolve, reject) =>
        execFile(cmd, args, { cwd: dir, encoding: 'utf8' }, (err, out, stderr) => (err ? reject(new Error(`psql: ${stderr || err.message}`)) : resolve(out.trim()))),
      );
    },
    async destroy() {
      await pg.stop();
      live.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pg;
}

/** Whether a process still works in `data` (every backend has the data folder as its cwd): one of a killed postmaster. */
function backendsAlive(data: string): boolean {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === data) return true;
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return false;
}
