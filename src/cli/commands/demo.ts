/**
 * `latch demo`: the whole job on embedded defaults, narrated. It starts a relay on a free
 * loopback port with its data in a temp dir, makes a headless authenticator in a second temp
 * home, and pairs this "computer" (a third home) with it, each party a real `latch` process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { defaultCli, parse } from '../cli-context.js';
import { startServer } from '../../server/start-server.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch demo [--keep]';
const CLI = fileURLToPath(new URL('../main.js', import.meta.url));

export async function demo(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { keep: { type: 'boolean' } }, USAGE);
  const root = mkdtempSync(join(tmpdir(), 'latch-demo-'));
  const say = (line: string): void => cli.out(line);
  const children: ChildProcess[] = [];
  const env = (home: string): NodeJS.ProcessEnv => ({ ...process.env, LATCH_HOME: join(root, home), LATCH_PASSPHRASE: 'demo passphrase (not secret)' });
  const run = (home: string, args: string[]): ChildProcess => {
    const child = spawn(process.execPath, [CLI, ...args], { env: env(home), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  };
  const lines = (child: ChildProcess, prefix: string, stream: 'stdout' | 'stderr' = 'stderr'): void => {
    createInterface({ input: child[stream]! }).on('line', (l) => l.trim() && say(`    ${prefix} ${l}`));
  };
  const exited = (child: ChildProcess, what: string): Promise<void> =>
    new Promise((resolve, reject) =>
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new LatchError('demo_failed', `${what} exited with ${code}`)))),
    );

  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    say('Latch demo: a computer pairs with an authenticator over a relay that cannot read or forge their messages.\n');
    say('1. Start the relay (SQLite store in a temp dir, loopback only).');
    server = await startServer({ host: '127.0.0.1', port: 0, dataDir: join(root, 'server'), log: () => undefined });
    say(`   relay listening on ${server.url}\n`);

    say('2. Create the authenticator: an identity and an Ed25519 SSH key, in a keystore encrypted with Argon2id.');
    const init = run('phone', ['device', 'init', '--name', "Ada's phone"]);
    lines(init, 'phone |', 'stdout');
    await exited(init, 'device init');

    say('\n3. Start the authenticator; it waits for requests (auto-approve, as there is nobody to ask).');
    const device = run('phone', ['device', 'run', '--auto-approve']);
    lines(device, 'phone |');

    say('\n4. The computer asks to pair: a link (and QR code) with its public key, name, relay and version.');
    const pair = run('computer', ['pair', '--server', server.url, '--uri-only', '--name', 'demo-laptop']);
    const link = await new Promise<string>((resolve, reject) => {
      createInterface({ input: pair.stdout! }).once('line', resolve);
      pair.once('exit', (code) => reject(new LatchError('demo_failed', `latch pair exited with ${code}`)));
    });
    lines(pair, 'computer |');
    const pairDone = exited(pair, 'latch pair');
    say(`   ${link}\n`);

    say('5. The authenticator "scans" it: sealed box with its session key, then an authenticated hello each way.');
    const scan = run('phone', ['device', 'pair', link]);
    lines(scan, 'phone |');
    lines(scan, 'phone |', 'stdout');
    await Promise.all([exited(scan, 'device pair'), pairDone]);
    say('   Both sides showed the same check code, so nobody raced in between.\n');

    say('6. `latch status` asks the authenticator who it is, end-to-end encrypted through the relay.');
    const st = run('computer', ['status']);
    lines(st, 'computer |', 'stdout');
    await exited(st, 'latch status');

    say('\nDone. Every message crossed the relay as an opaque envelope; no private key left its owner.');
    if (values.keep) say(`State kept in ${root}`);
    return 0;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await server?.close();
    if (!values.keep) rmSync(root, { recursive: true, force: true });
  }
}
