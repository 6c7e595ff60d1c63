/**
 * A throwaway git repository set up for signing through `latch git setup --repo`: its own
 * HOME and global config (the machine's git config is never read or written), fixed author and
 * committer, and the setup's output for the caller to check.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run, type RunResult } from './agent-test-env.js';
import { latchRun, tempDir } from './latch-process.js';

export interface SigningRepo {
  repo: string;
  gitEnv: NodeJS.ProcessEnv;
  git(args: string[]): Promise<RunResult>;
  /** What `latch git setup` printed (exit code 0 is already checked). */
  setup: { code: number | null; stdout: string; stderr: string };
}

export async function signingRepo(opts: { prefix: string; computer: string; agentSocket: string }): Promise<SigningRepo> {
  const home = tempDir(opts.prefix);
  const repo = path.join(home, 'repo');
  const gitEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    GIT_CONFIG_GLOBAL: path.join(home, 'gitconfig'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Ann Author',
    GIT_AUTHOR_EMAIL: 'ann@example.com',
    GIT_COMMITTER_NAME: 'Carl Committer',
    GIT_COMMITTER_EMAIL: 'carl@example.com',
    LATCH_HOME: opts.computer,
  };
  const git = (args: string[]): Promise<RunResult> => run('git', ['-C', repo, ...args], { env: gitEnv });
  fs.writeFileSync(gitEnv.GIT_CONFIG_GLOBAL!, '');
  fs.mkdirSync(repo);
  for (const args of [['init', '-q'], ['config', 'user.email', 'ann@example.com']]) {
    const r = await git(args);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  }
  const setup = await latchRun(['git', 'setup', '--repo', repo, '--agent', opts.agentSocket], { home: opts.computer, env: gitEnv });
  if (setup.code !== 0) throw new Error(`latch git setup failed: ${setup.stderr}`);
  return { repo, gitEnv, git, setup };
}
