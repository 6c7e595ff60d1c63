/**
 * `latch demo`: the whole job on embedded defaults, narrated. It starts a relay on a free
 * loopback port with its data in a temp dir, makes a headless authenticator in a second temp
 * home, and pairs this "computer" (a third home) with it, each party a real `latch` process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    server = await startServer({ host: '127.0.0.1', port: 0, dataDir: join(root, 'server'), log: () => undefined, custody: { recoveryDelaySeconds: 0 } });
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

    say('\n7. Start `latch agent`: an ssh-agent whose keys live on the authenticator.');
    const agentSock = join(root, 'agent', 'agent.sock');
    const agentProc = run('computer', ['agent', '--socket', agentSock, '--no-upstream']);
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: agentProc.stderr! }).on('line', (l) => {
        if (l.includes('agent listening on')) resolve();
        if (l.trim()) say(`    computer | ${l}`);
      });
      agentProc.once('exit', (code) => reject(new LatchError('demo_failed', `latch agent exited with ${code}`)));
    });

    say('\n8. `latch git setup --repo`: git signs with the authenticator\'s SSH key through the agent.');
    const repo = join(root, 'repo');
    mkdirSync(repo);
    const gitHome = join(root, 'git-home');
    mkdirSync(gitHome);
    writeFileSync(join(gitHome, 'gitconfig'), '');
    const gitEnv: NodeJS.ProcessEnv = {
      ...env('computer'),
      HOME: gitHome,
      GIT_CONFIG_GLOBAL: join(gitHome, 'gitconfig'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Ada Lovelace',
      GIT_AUTHOR_EMAIL: 'ada@example.com',
      GIT_COMMITTER_NAME: 'Ada Lovelace',
      GIT_COMMITTER_EMAIL: 'ada@example.com',
    };
    const tool = async (cmd: string, args: string[], prefix: string): Promise<void> => {
      const child = spawn(cmd, args, { env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      lines(child, prefix);
      lines(child, prefix, 'stdout');
      await exited(child, `${cmd} ${args.slice(0, 3).join(' ')}`);
    };
    await tool('git', ['-C', repo, 'init', '-q'], 'git |');
    await tool('git', ['-C', repo, 'config', 'user.email', 'ada@example.com'], 'git |');
    await tool(process.execPath, [CLI, 'git', 'setup', '--repo', repo, '--agent', agentSock], 'computer |');

    say('\n9. `git commit -S`: the whole commit goes to the authenticator, which shows author, parents and message, then signs.');
    await tool('git', ['-C', repo, 'commit', '-S', '--allow-empty', '-q', '-m', 'Signed on the authenticator'], 'git |');

    say('\n10. Stock `git verify-commit` checks the SSH signature against the allowed-signers file.');
    await tool('git', ['-C', repo, 'verify-commit', 'HEAD'], 'git |');
    await (await import('./demo-custody.js')).demoCustody({ say, run, lines, exited, serverUrl: server.url, serverDataDir: join(root, 'server'), root, phone: 'phone' }, 11);
    say('\nDone. Every message crossed the relay as an opaque envelope; no private key left its owner.');
    if (values.keep) say(`State kept in ${root}`);
    return 0;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await server?.close();
    if (!values.keep) rmSync(root, { recursive: true, force: true });
  }
}
