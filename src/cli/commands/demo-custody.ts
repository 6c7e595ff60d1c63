/**
 * `latch demo`, custody part (issue 4): create, transfer, join (2FA), revoke, recover,
 * self-custody, each through the real CLI against the demo's server.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

export interface DemoKit {
  say(line: string): void;
  run(home: string, args: string[]): ChildProcess;
  lines(child: ChildProcess, prefix: string, stream?: 'stdout' | 'stderr'): void;
  exited(child: ChildProcess, what: string): Promise<void>;
  serverUrl: string;
  serverDataDir: string;
  root: string;
  /** The phone home already runs `device run --auto-approve`. */
  phone: string;
}

export async function demoCustody(k: DemoKit, firstStep: number): Promise<void> {
  // The kit's passphrase for the demo's child processes (they inherit process.env).
  process.env.LATCH_RECOVERY_PASSPHRASE ??= 'demo recovery passphrase (not secret)';
  let n = firstStep;
  const step = (text: string): void => k.say(`\n${n++}. ${text}`);
  const cmd = async (home: string, args: string[], prefix: string): Promise<string> => {
    const child = k.run(home, args);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    k.lines(child, prefix);
    await k.exited(child, `latch ${args.slice(0, 2).join(' ')}`);
    for (const l of out.split('\n')) if (l.trim()) k.say(`    ${prefix} ${l}`);
    return out;
  };
  const login = async (home: string, email: string, prefix: string): Promise<void> => {
    await cmd(home, ['login', '--email', email, '--server', k.serverUrl], prefix);
    const code = readFileSync(join(k.serverDataDir, 'outbox', `${email}.txt`), 'utf8').trim().split('\n').pop()!;
    await cmd(home, ['login', '--email', email, '--code', code], prefix);
  };
  const cloud = join(k.root, 'Dropbox');
  mkdirSync(cloud, { recursive: true });

  step('Custody: log in with the server\'s built-in issuer (the one-time code lands in DATA/outbox/<email>.txt).');
  await login(k.phone, 'ada@example.com', 'phone |');
  step('Create an account: device key (here), server key, recovery key (only in a kit in the "cloud" folder). 500 + 500 + 500, any two sign.');
  const created = JSON.parse(await cmd(k.phone, ['account', 'create', '--recovery-dir', cloud, '--json'], 'phone |')) as { address: string; recovery_kit: string };
  await cmd('bob', ['device', 'init', '--name', "Bob's phone"], 'bob   |');
  await login('bob', 'bob@example.com', 'bob   |');
  const bob = (JSON.parse(await cmd('bob', ['account', 'create', '--skip-recovery', '--json'], 'bob   |')) as { address: string }).address;
  step('Transfer 10 FLOW: the phone signs, the server checks its policy and co-signs, the ledger applies.');
  await cmd(k.phone, ['account', 'transfer', '--to', bob, '--amount', '10'], 'phone |');
  step('A tablet joins (2FA): it asks, the phone gets the request end-to-end encrypted through the relay, builds the add-key transaction itself and signs.');
  await cmd('tablet', ['device', 'init', '--name', "Ada's tablet"], 'tablet|');
  await login('tablet', 'ada@example.com', 'tablet|');
  await cmd('tablet', ['account', 'join', created.address], 'tablet|');
  step('The tablet is lost: the phone and the server revoke its key (index 3).');
  await cmd(k.phone, ['account', 'revoke', '--key', '3'], 'phone |');
  step('A new phone recovers with the recovery kit + the server key (the demo server\'s recovery delay is 0; default 48 h).');
  await cmd('newphone', ['device', 'init', '--name', "Ada's new phone"], 'new   |');
  await login('newphone', 'ada@example.com', 'new   |');
  await cmd('newphone', ['account', 'recover', '--recovery-file', created.recovery_kit], 'new   |');
  step('Self-custody: revoke the server key. From now on the device and the recovery kit sign together.');
  await cmd(k.phone, ['account', 'self-custody'], 'phone |');
  await cmd(k.phone, ['account', 'transfer', '--to', bob, '--amount', '1', '--recovery-file', created.recovery_kit], 'phone |');
  await cmd(k.phone, ['account', 'show'], 'phone |');
  await cmd(k.phone, ['server', 'audit', 'verify', '--data', k.serverDataDir], 'server|');
}
