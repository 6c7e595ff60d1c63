/**
 * `latch git setup --repo DIR | --global [--key NAME] [--agent PATH]`: git signs commits and
 * tags with the authenticator's key through `latch agent` (SSH signing, git >= 2.34).
 * Sets gpg.format, user.signingkey, commit.gpgsign, tag.gpgSign, gpg.ssh.allowedSignersFile
 * and gpg.ssh.program (a small wrapper in LATCH_HOME that runs Latch's signing program with
 * LATCH_GIT_AGENT set to the agent; an exported SSH_AUTH_SOCK whose agent holds the key wins).
 * Says what it changed and how to undo each change.
 *
 * `latch git sign ...`: the signing program itself (same arguments as `ssh-keygen -Y ...`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { loadComputerState, requirePairing } from '../../computer/computer-state.js';
import { gitConfigGet, gitConfigSet, gitScopeFlag, shellQuote, type GitScope } from '../../computer/git-config.js';
import { LatchError } from '../../util/latch-error.js';
import { defaultAgentSocket } from './agent.js';

const USAGE = 'latch git setup (--repo DIR | --global) [--key NAME] [--agent PATH]';
const SIGN_PROGRAM = fileURLToPath(new URL('../../agent/git-sign-program-cli.js', import.meta.url));

export async function git(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'sign') return (await import('../../agent/git-sign-program.js')).main(rest);
  if (sub !== 'setup') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const cli = defaultCli();
  const { values } = parse(rest, { repo: { type: 'string' }, global: { type: 'boolean' }, key: { type: 'string' }, agent: { type: 'string' } }, USAGE);
  if ((values.repo === undefined) === !values.global) throw usageError('give exactly one of --repo DIR and --global', USAGE);
  const scope: GitScope = values.global ? { kind: 'global' } : { kind: 'repo', dir: path.resolve(values.repo!) };
  if (scope.kind === 'repo' && !fs.existsSync(path.join(scope.dir, '.git'))) throw new LatchError('not_a_repo', `${scope.dir} is not a git repository`);
  const pairing = requirePairing(loadComputerState(cli.paths.computerFile));
  const key = values.key === undefined ? pairing.sshKeys[0] : pairing.sshKeys.find((k) => k.name === values.key);
  if (!key) {
    throw new LatchError('no_such_key', values.key ? `the authenticator has no key "${values.key}" (see \`latch status\`)` : 'the authenticator has no SSH key');
  }
  const keyLine = key.public_key.split(' ').slice(0, 2).join(' ');
  const agentSocket = path.resolve(values.agent ?? defaultAgentSocket(cli.paths.runtimeDir));

  // The signing program: a wrapper that pins node, the program and the agent socket.
  const binDir = path.join(cli.paths.home, 'bin');
  fs.mkdirSync(binDir, { recursive: true, mode: 0o700 });
  const wrapper = path.join(binDir, 'latch-git-sign');
  fs.writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      '# Written by `latch git setup`: git\'s gpg.ssh.program. Signs through latch agent; every other',
      '# ssh-keygen -Y operation (verify, find-principals) runs the real ssh-keygen.',
      '# It uses $SSH_AUTH_SOCK when that agent holds the signing key, else the agent below.',
      `LATCH_GIT_AGENT=${shellQuote(agentSocket)} exec ${shellQuote(process.execPath)} ${shellQuote(SIGN_PROGRAM)} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  fs.chmodSync(wrapper, 0o755);

  // Allowed signers (ssh-keygen ALLOWED SIGNERS): who may sign, for git verify-commit/verify-tag.
  const email = gitConfigGet(scope, 'user.email') ?? gitConfigGet(undefined, 'user.email', scope.kind === 'repo' ? scope.dir : undefined) ?? '*';
  const signers = path.join(cli.paths.home, 'allowed_signers');
  const signerLine = `${email} namespaces="git" ${keyLine}`;
  const existing = fs.existsSync(signers) ? fs.readFileSync(signers, 'utf8') : '';
  if (!existing.split('\n').includes(signerLine)) fs.writeFileSync(signers, existing + signerLine + '\n', { mode: 0o644 });

  const settings: [string, string][] = [
    ['gpg.format', 'ssh'],
    ['user.signingkey', `key::${keyLine}`],
    ['commit.gpgsign', 'true'],
    ['tag.gpgSign', 'true'],
    ['gpg.ssh.allowedSignersFile', signers],
    ['gpg.ssh.program', wrapper],
  ];
  const flag = gitScopeFlag(scope);
  cli.err(`Configured git (${scope.kind === 'global' ? 'global' : scope.dir}) to sign with "${key.name}" on "${pairing.deviceName}":`);
  const undo: string[] = [];
  for (const [k, v] of settings) {
    const before = gitConfigGet(scope, k);
    gitConfigSet(scope, k, v);
    cli.err(`  ${k} = ${v}${before === undefined ? '' : before === v ? ' (unchanged)' : ` (was ${before})`}`);
    if (before !== v) undo.push(before === undefined ? `${flag} --unset ${k}` : `${flag} ${k} ${shellQuote(before)}`);
  }
  cli.err(`Also wrote ${wrapper} and added "${signerLine.slice(0, 60)}..." to ${signers}.`);
  cli.err(`Signing needs \`latch agent\` running (socket ${agentSocket}, or the one SSH_AUTH_SOCK names).`);
  if (undo.length) cli.err(`To undo:\n${undo.map((u) => `  ${u}`).join('\n')}`);
  cli.out(JSON.stringify({ scope: scope.kind === 'global' ? 'global' : scope.dir, signing_key: keyLine, program: wrapper, allowed_signers: signers }));
  return 0;
}
