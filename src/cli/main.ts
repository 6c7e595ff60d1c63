#!/usr/bin/env node
/**
 * `latch`: a thin client. Each subcommand lives in its own file under commands/ and is
 * loaded only when asked for, so `latch status` does not load the server.
 */
import { isLatchError } from '../util/latch-error.js';
import { defaultCli, HelpRequested } from './cli-context.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run server, authenticator and computer in a temp dir, narrated', load: async () => (await import('./commands/demo.js')).demo },
  server: { summary: 'run the server: relay, custody and the web authenticator (/app/)', load: async () => (await import('./commands/server.js')).server },
  pair: { summary: 'pair this computer with an authenticator (QR code)', load: async () => (await import('./commands/pair.js')).pair },
  unpair: { summary: 'ask the authenticator to forget this computer, and forget it here', load: async () => (await import('./commands/unpair.js')).unpair },
  status: { summary: 'show the paired authenticator and whether it is reachable', load: async () => (await import('./commands/status.js')).status },
  device: { summary: 'the authenticator: init, pair, run, key, policy, host, computer', load: async () => (await import('./commands/device.js')).device },
  login: { summary: 'log in to the custody server (one-time code, or an OIDC ID token)', load: async () => (await import('./commands/login.js')).login },
  account: { summary: 'custody account: create, show, transfer, join, revoke, recover, self-custody, link, unlink, redeem', load: async () => (await import('./commands/account.js')).account },
  agent: { summary: 'ssh-agent with the authenticator\'s keys (SSH logins, git signing)', load: async () => (await import('./commands/agent.js')).agent },
  ssh: { summary: 'ssh setup: point ssh at latch agent', load: async () => (await import('./commands/ssh.js')).ssh },
  git: { summary: 'git setup: sign commits and tags on the authenticator', load: async () => (await import('./commands/git.js')).git },
  browser: { summary: 'passkeys in the browser: install the native-messaging host, or run it', load: async () => (await import('./commands/browser.js')).browser },
  app: { summary: 'serve the web authenticator from this machine (apart from any relay)', load: async () => (await import('./commands/app.js')).app },
  doctor: { summary: 'check agent, pairing, relay, authenticator, OpenSSH and git', load: async () => (await import('./commands/doctor.js')).doctor },
};

function help(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return ['usage: latch <command> [options]   (latch <command> --help for more)', '', 'commands:', ...rows].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write('latch 0.1.0 (protocol 1)\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`latch: unknown command "${name}"\n${help()}\n`);
    return 2;
  }
  return (await command.load())(rest);
}

main(process.argv.slice(2)).then(
  // Exit explicitly: an idle WebSocket or timer must not keep a finished command alive.
  // (stdout/stderr to pipes and files are synchronous on Linux, so nothing is cut off.)
  (code) => process.exit(code),
  (e: unknown) => {
    const cli = defaultCli();
    if (e instanceof HelpRequested) {
      cli.out(`usage: ${e.usage}`);
      process.exitCode = 0;
    } else if (isLatchError(e)) {
      cli.err(`latch: ${e.message} [${e.code}]`);
      process.exitCode = e.code === 'usage' ? 2 : 1;
    } else {
      cli.err(`latch: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 1;
    }
    process.exit(process.exitCode);
  },
);
