import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgentServer, type AgentBackend, type AgentServer } from '../src/agent/agent-server.js';
import { formatAuthorizedKeyLine } from '../src/protocol/ssh/ssh-public-key.js';
import { parseGitObject } from '../src/protocol/ssh/git-object.js';
import { LocalKeyBackend } from './helpers/local-key-backend.js';
import { run, tempDir } from './helpers/agent-test-env.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/agent/git-sign-program-cli.js');
const tmp = tempDir('latch-git-');
const backend = new LocalKeyBackend(['ed25519', 'p256']);
/** Same keys, but without the Latch extension: exercises the SSHSIG SIGN_REQUEST fallback. */
const plainBackend: AgentBackend = { listIdentities: () => backend.listIdentities(), sign: (...a) => backend.sign(...a) };
let agent: AgentServer;
let plainAgent: AgentServer;
const socket = path.join(tmp, 'a', 'agent.sock');
const plainSocket = path.join(tmp, 'p', 'agent.sock');
const shim = path.join(tmp, 'latch-ssh-sign');
const allowed = path.join(tmp, 'allowed_signers');
const repo = path.join(tmp, 'repo');

function gitEnv(sock: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: tmp,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    SSH_AUTH_SOCK: sock,
    GIT_AUTHOR_NAME: 'Ann Author',
    GIT_AUTHOR_EMAIL: 'ann@example.com',
    GIT_COMMITTER_NAME: 'Carl Committer',
    GIT_COMMITTER_EMAIL: 'carl@example.com',
  };
}
const git = (args: string[], sock = socket) => run('git', ['-C', repo, ...args], { env: gitEnv(sock) });

before(async () => {
  agent = await startAgentServer({ socketPath: socket, backend });
  plainAgent = await startAgentServer({ socketPath: plainSocket, backend: plainBackend });
  fs.writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`, { mode: 0o755 });
  const lines = backend.keys.map((k) => `ann@example.com ${formatAuthorizedKeyLine(k.blob, k.comment)}`);
  fs.writeFileSync(allowed, lines.join('\n') + '\n');
  for (const k of backend.keys) fs.writeFileSync(path.join(tmp, `${k.type}.pub`), formatAuthorizedKeyLine(k.blob, k.comment) + '\n');
  fs.mkdirSync(repo);
  for (const a of [
    ['init', '-q'],
    ['config', 'gpg.format', 'ssh'],
    ['config', 'user.signingkey', path.join(tmp, 'ed25519.pub')],
    ['config', 'gpg.ssh.program', shim],
    ['config', 'gpg.ssh.allowedSignersFile', allowed],
  ]) {
    const r = await git(a);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  await agent?.close();
  await plainAgent?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('git commit -S through the Latch extension; stock git verify-commit passes; the authenticator sees the commit', async () => {
  const before = backend.seen.length;
  const c = await git(['commit', '-S', '--allow-empty', '-q', '-m', 'signed on the authenticator']);
  assert.equal(c.code, 0, c.stderr);
  const v = await git(['verify-commit', 'HEAD']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /Good "git" signature for ann@example.com with ED25519 key/);
  const seen = backend.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.kind, 'sign-message');
  assert.equal(seen[0]!.namespace, 'git');
  const shown = parseGitObject(seen[0]!.message!);
  assert.equal(shown.kind, 'commit');
  assert.match(shown.author!, /^Ann Author <ann@example.com>/);
  assert.match(shown.committer!, /^Carl Committer <carl@example.com>/);
  assert.equal(shown.message, 'signed on the authenticator\n');
  // Tampering with the commit breaks verification (the check can fail).
  const raw = (await git(['cat-file', 'commit', 'HEAD'])).stdout.replace('signed on the authenticator', 'signed on the authenticatoR');
  fs.writeFileSync(path.join(tmp, 'forged'), raw);
  const forged = (await git(['hash-object', '-t', 'commit', '-w', path.join(tmp, 'forged')])).stdout.trim();
  const vf = await git(['verify-commit', forged]);
  assert.notEqual(vf.code, 0);
});

test('git tag -s with the P-256 key given as a literal key; git verify-tag passes', async () => {
  const key = fs.readFileSync(path.join(tmp, 'p256.pub'), 'utf8').trim();
  const t = await git(['-c', `user.signingkey=key::${key}`, 'tag', '-s', 'v1.0', '-m', 'release 1.0']);
  assert.equal(t.code, 0, t.stderr);
  const v = await git(['verify-tag', 'v1.0']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /Good "git" signature for ann@example.com with ECDSA key/);
  const last = backend.seen[backend.seen.length - 1]!;
  const shown = parseGitObject(last.message!);
  assert.equal(shown.kind, 'tag');
  assert.equal(shown.tag, 'v1.0');
  assert.match(shown.tagger!, /^Carl Committer/);
});

test('fallback: an agent without the extension gets a plain SSHSIG sign request; verify passes', async () => {
  const before = backend.seen.length;
  const c = await git(['commit', '-S', '--allow-empty', '-q', '-m', 'fallback'], plainSocket);
  assert.equal(c.code, 0, c.stderr);
  assert.equal((await git(['verify-commit', 'HEAD'])).code, 0);
  const seen = backend.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.kind, 'sign');
  assert.equal(seen[0]!.parsed?.kind, 'sshsig');
});

test('denied on the authenticator: git commit -S fails and nothing is committed', async () => {
  const head = (await git(['rev-parse', 'HEAD'])).stdout;
  backend.allow = false;
  try {
    const c = await git(['commit', '-S', '--allow-empty', '-q', '-m', 'denied']);
    assert.notEqual(c.code, 0);
  } finally {
    backend.allow = true;
  }
  assert.equal((await git(['rev-parse', 'HEAD'])).stdout, head);
});

test('stdin mode writes the armored signature to stdout; ssh-keygen -Y verify accepts it', async () => {
  const r = await run(process.execPath, [cli, '-Y', 'sign', '-n', 'file', '-f', path.join(tmp, 'ed25519.pub')], { env: gitEnv(socket), input: 'piped message\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^-----BEGIN SSH SIGNATURE-----\n/);
  fs.writeFileSync(path.join(tmp, 'piped.sig'), r.stdout);
  const v = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'ann@example.com', '-n', 'file', '-s', path.join(tmp, 'piped.sig')], { input: 'piped message\n' });
  assert.equal(v.code, 0, v.stderr);
  // Other -Y operations go to the real ssh-keygen (same output as calling it directly).
  const fp = await run(process.execPath, [cli, '-Y', 'check-novalidate', '-n', 'file', '-s', path.join(tmp, 'piped.sig')], { input: 'piped message\n' });
  assert.equal(fp.code, 0, fp.stderr);
  const wrong = await run(process.execPath, [cli, '-Y', 'check-novalidate', '-n', 'file', '-s', path.join(tmp, 'piped.sig')], { input: 'other\n' });
  assert.notEqual(wrong.code, 0);
});

test('a commit message larger than one agent frame falls back to a hashed SSHSIG request and still verifies', async () => {
  const before = backend.seen.length;
  const big = 'x'.repeat(300 * 1024);
  fs.writeFileSync(path.join(tmp, 'bigmsg'), `big commit\n\n${big}\n`);
  const c = await git(['commit', '-S', '--allow-empty', '-q', '-F', path.join(tmp, 'bigmsg')]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal((await git(['verify-commit', 'HEAD'])).code, 0);
  const seen = backend.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.parsed?.kind, 'sshsig');
});
