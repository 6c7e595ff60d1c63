/**
 * `latch ssh setup [--config PATH] [--agent PATH] [--no-hint] [--yes] [--undo]`: adds a block
 * with IdentityAgent (and the host-name hint command) to the top of ~/.ssh/config. Shows
 * the diff and asks first; --yes skips asking; --undo removes the block.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { latchBlock, lineDiff, removeLatchBlock, withLatchBlock } from '../../computer/ssh-config-block.js';
import { LatchError } from '../../util/latch-error.js';
import { defaultAgentSocket } from './agent.js';

const USAGE = 'latch ssh setup [--config PATH] [--agent PATH] [--no-hint] [--yes] [--undo]';
const CLI = fileURLToPath(new URL('../main.js', import.meta.url));

export async function ssh(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'setup') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const cli = defaultCli();
  const { values } = parse(
    rest,
    { config: { type: 'string' }, agent: { type: 'string' }, 'no-hint': { type: 'boolean' }, yes: { type: 'boolean' }, undo: { type: 'boolean' } },
    USAGE,
  );
  const config = path.resolve(values.config ?? path.join(os.homedir(), '.ssh', 'config'));
  const before = fs.existsSync(config) ? fs.readFileSync(config, 'utf8') : '';
  const agentSocket = path.resolve(values.agent ?? defaultAgentSocket(cli.paths.runtimeDir));
  const after = values.undo
    ? removeLatchBlock(before).text
    : withLatchBlock(before, latchBlock({ agentSocket, node: process.execPath, cli: CLI, hint: !values['no-hint'] }));
  if (after === before) {
    cli.err(values.undo ? `No latch block in ${config}: nothing to undo.` : `${config} is already set up: nothing to change.`);
    return 0;
  }
  cli.err(`Changes to ${config}:`);
  cli.err(lineDiff(before, after));
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new LatchError('confirmation_required', 'not on a terminal: review the diff above and re-run with --yes');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await new Promise<string>((resolve) => rl.question('Apply? [y/N] ', resolve));
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      cli.err('Nothing changed.');
      return 1;
    }
  }
  fs.mkdirSync(path.dirname(config), { recursive: true, mode: 0o700 });
  if (before !== '' && !values.undo) fs.copyFileSync(config, `${config}.latch-backup`);
  fs.writeFileSync(config, after, { mode: 0o600 });
  if (values.undo) cli.err(`Removed the latch block from ${config}.`);
  else {
    cli.err(`Updated ${config}${before !== '' ? ` (previous version saved as ${config}.latch-backup)` : ''}.`);
    cli.err(`ssh now uses latch agent at ${agentSocket}; start it with \`latch agent\`. To undo: latch ssh setup --undo${values.config ? ` --config ${config}` : ''}`);
  }
  return 0;
}
