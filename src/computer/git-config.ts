/** Small wrapper over `git config` for `latch git setup` and `latch doctor`. Node only. */
import { spawnSync } from 'node:child_process';
import { LatchError } from '../util/latch-error.js';

export type GitScope = { kind: 'global' } | { kind: 'repo'; dir: string };

function args(scope: GitScope): string[] {
  return scope.kind === 'global' ? ['config', '--global'] : ['-C', scope.dir, 'config', '--local'];
}

export function gitConfigGet(scope: GitScope | undefined, key: string, cwd?: string): string | undefined {
  const a = scope ? [...args(scope), '--get', key] : ['config', '--get', key];
  const r = spawnSync('git', a, { encoding: 'utf8', cwd });
  if (r.error) throw new LatchError('git_missing', 'git is not installed or not on PATH');
  return r.status === 0 ? r.stdout.replace(/\n$/, '') : undefined;
}

export function gitConfigSet(scope: GitScope, key: string, value: string): void {
  const r = spawnSync('git', [...args(scope), key, value], { encoding: 'utf8' });
  if (r.error) throw new LatchError('git_missing', 'git is not installed or not on PATH');
  if (r.status !== 0) throw new LatchError('git_config_failed', `git config ${key} failed: ${r.stderr.trim().slice(0, 300)}`);
}

export function gitScopeFlag(scope: GitScope): string {
  return scope.kind === 'global' ? 'git config --global' : `git -C ${shellQuote(scope.dir)} config --local`;
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
