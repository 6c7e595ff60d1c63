/**
 * Issue 3, git: `latch git setup --repo`, then stock `git commit -S` / `git tag -s` sign on
 * the authenticator (which shows author, committer, parents and message), and stock
 * `git verify-commit` / `git verify-tag` accept the result. Also plain `ssh-keygen -Y sign`
 * through the agent (the authenticator shows the namespace), then `ssh-keygen -Y verify`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run } from './helpers/agent-test-env.js';
import { LATCH_CLI, latchRun, tempDir } from './helpers/latch-process.js';
import { setupLatchSsh, type LatchSshEnv } from './helpers/latch-ssh-env.js';
import { signingRepo } from './helpers/git-repo.js';

let env: LatchSshEnv;
let repo: string;
let gitEnv: NodeJS.ProcessEnv;

async function answer(reply: string, from: number): Promise<string> {
  const m = await env.device.waitFor(/=== APPROVAL REQUEST ===[\s\S]*?\n> /, { from });
  env.device.write(reply + '\n');
  return m[0];
}
const git = (args: string[]) => run('git', ['-C', repo, ...args], { env: gitEnv });

before(async () => {
  env = await setupLatchSsh();
  const r = await signingRepo({ prefix: 'githome', computer: env.computer, agentSocket: env.agentSocket });
  ({ repo, gitEnv } = r);
  assert.match(r.setup.stderr, /gpg\.format = ssh/);
  assert.match(r.setup.stderr, /To undo:\n.*--unset gpg\.format/);
});

after(async () => {
  await env?.stop();
});

test('git setup sets the documented keys', async () => {
  for (const [k, v] of [
    ['gpg.format', 'ssh'],
    ['commit.gpgsign', 'true'],
    ['tag.gpgsign', 'true'],
  ] as const) {
    assert.equal((await git(['config', '--get', k])).stdout.trim(), v);
  }
  assert.match((await git(['config', '--get', 'user.signingkey'])).stdout, /^key::ssh-ed25519 /);
  const program = (await git(['config', '--get', 'gpg.ssh.program'])).stdout.trim();
  assert.ok(fs.statSync(program).mode & 0o100);
  const signers = (await git(['config', '--get', 'gpg.ssh.allowedSignersFile'])).stdout.trim();
  assert.match(fs.readFileSync(signers, 'utf8'), /^ann@example\.com namespaces="git" ssh-ed25519 /m);
});

test('git commit -S is shown on the authenticator, then git verify-commit passes', async () => {
  fs.writeFileSync(path.join(repo, 'a.txt'), 'hello\n');
  assert.equal((await git(['add', 'a.txt'])).code, 0);
  let from = env.device.stderr().length;
  const commit = git(['commit', '-S', '-q', '-m', 'First signed commit\n\nwith a body line']);
  const prompt = await answer('y', from);
  const r = await commit;
  assert.equal(r.code, 0, r.stderr);
  assert.match(prompt, /Git commit signature/);
  assert.match(prompt, /author {4}Ann Author <ann@example\.com>/);
  assert.match(prompt, /committer Carl Committer <carl@example\.com>/);
  assert.match(prompt, /parents {3}\(none: first commit\)/);
  assert.match(prompt, /\| First signed commit/);
  const v = await git(['verify-commit', 'HEAD']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /Good "git" signature for ann@example\.com/);

  // A second commit shows its parent.
  const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  fs.writeFileSync(path.join(repo, 'b.txt'), 'again\n');
  await git(['add', 'b.txt']);
  from = env.device.stderr().length;
  const second = git(['commit', '-q', '-m', 'Second']);
  const prompt2 = await answer('y', from);
  assert.equal((await second).code, 0);
  assert.match(prompt2, new RegExp(`parents {3}${head}`));
  assert.equal((await git(['verify-commit', 'HEAD'])).code, 0);
});

test('a denied commit signature fails git commit, without a second prompt', async () => {
  fs.writeFileSync(path.join(repo, 'c.txt'), 'denied\n');
  await git(['add', 'c.txt']);
  const from = env.device.stderr().length;
  const commit = git(['commit', '-q', '-m', 'Should not be signed']);
  await answer('d', from);
  const r = await commit;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refused/);
  assert.equal(env.device.stderr().slice(from).match(/APPROVAL REQUEST/g)?.length, 1);
});

test('git tag -s is shown on the authenticator, then git verify-tag passes', async () => {
  const from = env.device.stderr().length;
  const tag = git(['tag', '-s', 'v1.0', '-m', 'Release one']);
  const prompt = await answer('y', from);
  assert.equal((await tag).code, 0);
  assert.match(prompt, /Git tag signature/);
  assert.match(prompt, /tag v1\.0 on commit [0-9a-f]{40}/);
  assert.match(prompt, /tagger {4}Carl Committer/);
  const v = await git(['verify-tag', 'v1.0']);
  assert.equal(v.code, 0, v.stderr);
});

test('a timed approval for all commits (g) covers the next commit without asking', async () => {
  fs.writeFileSync(path.join(repo, 'd.txt'), 'timed\n');
  await git(['add', 'd.txt']);
  let from = env.device.stderr().length;
  const first = git(['commit', '-q', '-m', 'timed 1']);
  await answer('g 1h', from);
  assert.equal((await first).code, 0);
  fs.writeFileSync(path.join(repo, 'e.txt'), 'timed\n');
  await git(['add', 'e.txt']);
  from = env.device.stderr().length;
  const second = await git(['commit', '-q', '-m', 'timed 2']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(env.device.stderr().slice(from), /approved by policy .*all git signatures/);
  assert.equal((await git(['verify-commit', 'HEAD'])).code, 0);
  await latchRun(['device', 'policy', 'revoke', '--all'], { home: env.phone });
});

test('ssh-keygen -Y sign through the agent shows the namespace; ssh-keygen -Y verify passes', async () => {
  const dir = tempDir('ysign');
  const msg = path.join(dir, 'msg.txt');
  fs.writeFileSync(msg, 'a file to sign\n');
  const pub = path.join(dir, 'key.pub');
  fs.writeFileSync(pub, env.keys[0]! + '\n');
  const from = env.device.stderr().length;
  const sign = run('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', pub, '-U', msg], { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
  const prompt = await answer('y', from);
  const r = await sign;
  assert.equal(r.code, 0, r.stderr);
  assert.match(prompt, /namespace "file"/);
  const signers = path.join(dir, 'allowed');
  fs.writeFileSync(signers, `me@example.com ${env.keys[0]}\n`);
  const v = await run('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'me@example.com', '-n', 'file', '-s', msg + '.sig'], { input: fs.readFileSync(msg) });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /Good "file" signature/);
});

test('a long commit message is cut on the authenticator with a line saying how much is hidden; so is a long signed text (sign_message)', async () => {
  fs.writeFileSync(path.join(repo, 'long.txt'), 'long\n');
  await git(['add', 'long.txt']);
  const lines = Array.from({ length: 30 }, (_, i) => `message line ${i + 1}`);
  let from = env.device.stderr().length;
  const commit = git(['commit', '-q', '-m', lines.join('\n')]);
  const prompt = await answer('y', from);
  assert.equal((await commit).code, 0);
  assert.match(prompt, /\| message line 20\n/);
  assert.doesNotMatch(prompt, /message line 21/);
  assert.match(prompt, /\| message line 20\n +\(10 more lines not shown\)\n/);

  // Exactly at the limit: nothing is hidden, so nothing is said.
  fs.writeFileSync(path.join(repo, 'long2.txt'), 'long\n');
  await git(['add', 'long2.txt']);
  from = env.device.stderr().length;
  const exact = git(['commit', '-q', '-m', lines.slice(0, 20).join('\n')]);
  const prompt2 = await answer('y', from);
  assert.equal((await exact).code, 0);
  assert.match(prompt2, /\| message line 20\n/);
  assert.doesNotMatch(prompt2, /not shown/);

  const dir = tempDir('ysign-long');
  const msg = path.join(dir, 'msg.txt');
  fs.writeFileSync(msg, lines.join('\n') + '\n');
  const pub = path.join(dir, 'key.pub');
  fs.writeFileSync(pub, env.keys[0]! + '\n');
  from = env.device.stderr().length;
  // Latch's gpg.ssh.program sends the whole message (sign_message), so the authenticator shows its text.
  const sign = latchRun(['git', 'sign', '-Y', 'sign', '-n', 'file', '-f', pub, '-U', msg], { home: env.computer, env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
  const prompt3 = await answer('y', from);
  const signed = await sign;
  assert.equal(signed.code, 0, signed.stderr);
  assert.match(prompt3, /\| message line 12\n +\(18 more lines not shown\)\n/);
  assert.doesNotMatch(prompt3, /message line 13/);
});

test('a git object too large for the relay envelope is refused with a clear error, without a prompt', async () => {
  const pub = path.join(tempDir('big'), 'key.pub');
  fs.writeFileSync(pub, env.keys[0]! + '\n');
  const from = env.device.stderr().length;
  const big = 'tree ' + '0'.repeat(40) + '\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\n' + 'x'.repeat(50 * 1024) + '\n';
  const r = await run(process.execPath, [LATCH_CLI, 'git', 'sign', '-Y', 'sign', '-n', 'git', '-f', pub], { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket }, input: big });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bytes; Latch shows at most 40960 bytes/);
  assert.doesNotMatch(env.device.stderr().slice(from), /APPROVAL REQUEST/);
});

test('issue 17: the signing program follows an exported SSH_AUTH_SOCK that holds the key (latch agent --socket PATH); else the error names the socket tried and why', async () => {
  // `latch git setup` pinned the default socket, where no agent runs; the user's agent is at
  // env.agentSocket (`latch agent --socket PATH`), exported as SSH_AUTH_SOCK.
  const pinned = path.join(tempDir('nodefault'), 'agent.sock');
  const r = await signingRepo({ prefix: 'githome-sock', computer: env.computer, agentSocket: pinned });
  fs.writeFileSync(path.join(r.repo, 'f.txt'), 'socket\n');
  assert.equal((await r.git(['add', 'f.txt'])).code, 0);

  const exported = { ...r.gitEnv, SSH_AUTH_SOCK: env.agentSocket };
  const from = env.device.stderr().length;
  const commit = run('git', ['-C', r.repo, 'commit', '-S', '-q', '-m', 'via SSH_AUTH_SOCK'], { env: exported });
  await answer('y', from);
  const done = await commit;
  assert.equal(done.code, 0, done.stderr);
  assert.equal((await run('git', ['-C', r.repo, 'verify-commit', 'HEAD'], { env: exported })).code, 0);

  // SSH_AUTH_SOCK unset, or naming an agent without the key: the pinned socket is tried, and said.
  for (const [sock, why] of [['', /SSH_AUTH_SOCK is not set/], [path.join(tempDir('other'), 'none.sock'), /SSH_AUTH_SOCK=\S+none\.sock does not hold the signing key/]] as const) {
    const failed = await run('git', ['-C', r.repo, 'commit', '--allow-empty', '-S', '-q', '-m', 'no agent'], { env: { ...r.gitEnv, SSH_AUTH_SOCK: sock } });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, new RegExp(`cannot connect to the agent socket \\(ENOENT\\): ${pinned.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(the socket \`latch git setup\` chose`));
    assert.match(failed.stderr, why);
  }
});
