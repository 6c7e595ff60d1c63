/**
 * Issue 3 over real processes: `latch agent` + a paired `latch device run` + a real relay +
 * Debian's sshd and OpenSSH's ssh/ssh-add. The authenticator answers from its stdin.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startSshd, sshArgs, type TestSshd } from './helpers/sshd.js';
import { run, startSshAgent, untilClockPasses } from './helpers/agent-test-env.js';
import { LATCH_CLI, PASSPHRASE, latchRun, tempDir } from './helpers/latch-process.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { latchPaths } from '../src/util/latch-paths.js';
import { setupLatchSsh, latchInteractive, type LatchSshEnv } from './helpers/latch-ssh-env.js';
import os from 'node:os';

let env: LatchSshEnv;
let sshd: TestSshd;
const user = os.userInfo().username;

/** ssh through the agent, with the host-name hint command as `latch ssh setup` writes it. */
function ssh(port: number, opts: { hint?: boolean; hintPort?: number; knownHostsDir?: string; cmd?: string } = {}) {
  const args = sshArgs(port, env.agentSocket, opts.knownHostsDir);
  if (opts.hint !== false) {
    args.push('-o', `KnownHostsCommand=${process.execPath} ${LATCH_CLI} agent hint --agent ${env.agentSocket} %r %h ${opts.hintPort ?? '%p'} %K`);
  }
  return run('ssh', [...args, `${user}@127.0.0.1`, opts.cmd ?? 'echo logged-in'], { env: { ...process.env, LATCH_HOME: env.computer } });
}

/** Wait for the next prompt on the authenticator (after `from`), answer it, return its text. */
async function answer(reply: string, from: number): Promise<string> {
  const m = await env.device.waitFor(/=== APPROVAL REQUEST ===[\s\S]*?\n> /, { from });
  env.device.write(reply + '\n');
  return m[0];
}

before(async () => {
  env = await setupLatchSsh({ extraKeys: ['ecdsa'] });
  sshd = await startSshd({ authorizedKeys: env.keys });
});

after(async () => {
  await sshd?.stop();
  await env?.stop();
});

test('ssh-add -L lists every key of the authenticator (ed25519 and ecdsa)', async () => {
  const r = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
  assert.equal(r.code, 0, r.stderr);
  const listed = r.stdout.trim().split('\n');
  assert.equal(listed.length, 2);
  assert.match(listed[0]!, /^ssh-ed25519 /);
  assert.match(listed[1]!, /^ecdsa-sha2-nistp256 /);
  for (const k of env.keys) assert.ok(listed.some((l) => l.split(' ')[1] === k.split(' ')[1]), `missing ${k}`);
});

test('the agent socket is 0600 inside a 0700 directory', () => {
  assert.equal(fs.statSync(env.agentSocket).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(env.agentSocket)).mode & 0o777, 0o700);
});

test('login approved on the authenticator; it shows user, host name and a verified host key', async () => {
  const from = env.device.stderr().length;
  const login = ssh(sshd.port);
  const prompt = await answer('y', from);
  const r = await login;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'logged-in');
  assert.match(prompt, new RegExp(`SSH login as ${user}@\\[127\\.0\\.0\\.1\\]:${sshd.port}`));
  assert.match(prompt, /VERIFIED/);
  // User and host on their own labelled lines; the pairing's fingerprint tells apart two
  // computers of one name, and is the one `latch device computer list` shows (issue 16 §4).
  assert.match(prompt, new RegExp(`\\n  user: ${user}\\n  host: \\[127\\.0\\.0\\.1\\]:${sshd.port}\\n`));
  const [computer] = JSON.parse((await latchRun(['device', 'computer', 'list', '--json'], { home: env.phone })).stdout).computers as { name: string; pairing_fingerprint: string }[];
  assert.match(computer!.pairing_fingerprint, /^[0-9a-f]{4} [0-9a-f]{4}$/);
  assert.ok(prompt.includes(`\n  computer "${computer!.name}", pairing ${computer!.pairing_fingerprint}\n`), prompt);
  assert.match(env.agent.stderr(), /approve on your authenticator/);
  // First verified use pins the host key.
  const hosts = await latchRun(['device', 'host', 'list', '--json'], { home: env.phone });
  assert.ok((JSON.parse(hosts.stdout) as { hosts: { name: string }[] }).hosts.some((h) => h.name === `[127.0.0.1]:${sshd.port}`));
});

test('without the hint the authenticator shows the host key and says the name is unknown', async () => {
  // A host the agent has no hint for (hints are keyed by host key).
  const other = await startSshd({ authorizedKeys: env.keys });
  try {
    const from = env.device.stderr().length;
    const login = ssh(other.port, { hint: false });
    const prompt = await answer('y', from);
    assert.equal((await login).code, 0);
    assert.match(prompt, /unknown host name \(host key SHA256:/);
    assert.match(prompt, /VERIFIED/);
  } finally {
    await other.stop();
  }
});

test('login denied: ssh says Permission denied (publickey) and the agent keeps serving', async () => {
  const from = env.device.stderr().length;
  const login = ssh(sshd.port);
  await answer('d', from);
  const r = await login;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Permission denied \(publickey\)/);
  const list = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
  assert.equal(list.code, 0);
  assert.equal(list.stdout.trim().split('\n').length, 2);
});

test('a timed approval for user@host is used without asking, then expires', async () => {
  // No race with the clock (issue 12 item 9: this failed under load with a 4 s approval that ran
  // out before the second login): a long approval is used, then a short one is waited out.
  let from = env.device.stderr().length;
  const first = ssh(sshd.port);
  await answer('h 1h', from);
  assert.equal((await first).code, 0);
  from = env.device.stderr().length;
  const second = await ssh(sshd.port);
  assert.equal(second.code, 0, second.stderr);
  assert.match(env.device.stderr().slice(from), /approved by policy/);
  assert.doesNotMatch(env.device.stderr().slice(from), /APPROVAL REQUEST/);
  assert.equal((await latchRun(['device', 'policy', 'revoke', '--all'], { home: env.phone })).code, 0);
  from = env.device.stderr().length;
  const third = ssh(sshd.port);
  await answer('h 3s', from);
  assert.equal((await third).code, 0);
  // Granted before that login ended, so it has expired 3 s after this at the latest.
  await untilClockPasses(Date.now() / 1000 + 3 + 1);
  from = env.device.stderr().length;
  const fourth = ssh(sshd.port);
  await answer('d', from); // expired: asked again
  assert.notEqual((await fourth).code, 0);
});

test('policy revoke --all removes timed approvals', async () => {
  let from = env.device.stderr().length;
  const first = ssh(sshd.port);
  await answer('s 1h', from);
  assert.equal((await first).code, 0);
  const rv = await latchRun(['device', 'policy', 'revoke', '--all'], { home: env.phone });
  assert.equal(rv.code, 0, rv.stderr);
  from = env.device.stderr().length;
  const again = ssh(sshd.port);
  await answer('d', from);
  assert.notEqual((await again).code, 0);
});

test('an unverified host (forwarding-style: no hostbound bind) gets no timed approval', async () => {
  // An old-style publickey request without session-bind: the agent cannot verify the host.
  const { AgentClient } = await import('../src/agent/agent-client.js');
  const { encodeSignRequest, decodeSignResponse } = await import('../src/agent/agent-codec.js');
  const { SshWriter } = await import('../src/protocol/ssh/ssh-wire.js');
  const { parseAuthorizedKeyLine } = await import('../src/protocol/ssh/ssh-public-key.js');
  const key = parseAuthorizedKeyLine(env.keys[0]!).blob;
  const data = new SshWriter().string(new Uint8Array(32).fill(7)).byte(50).string('bob').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(key).bytes();
  const from = env.device.stderr().length;
  const c = await AgentClient.connect(env.agentSocket);
  const pending = c.request(encodeSignRequest(key, data));
  const prompt = await answer('s 1h', from);
  assert.match(prompt, /NOT VERIFIED/);
  assert.match(prompt, /no timed approval/);
  decodeSignResponse(await pending); // approved once
  await env.device.waitFor(/approved once only/, { from });
  c.close();
  const listed = await latchRun(['device', 'policy', 'list', '--json'], { home: env.phone });
  assert.equal((JSON.parse(listed.stdout) as { policies: unknown[] }).policies.length, 0);
});

test('a changed host key for a pinned host name is refused, with a clear message on both sides', async () => {
  // A second sshd with another host key, presented under the first one's name and port.
  const other = await startSshd({ authorizedKeys: env.keys });
  try {
    const from = env.device.stderr().length;
    const agentFrom = env.agent.stderr().length;
    const r = await ssh(other.port, { hintPort: sshd.port, knownHostsDir: tempDir('kh') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    assert.match(env.device.stderr().slice(from), /host key of \[127\.0\.0\.1\]:\d+ changed/);
    assert.doesNotMatch(env.device.stderr().slice(from), /APPROVAL REQUEST/);
    assert.match(env.agent.stderr().slice(agentFrom), /host key of .* changed.*\[host_key_changed\]/);
  } finally {
    await other.stop();
  }
});

test('upstream agent: its keys are listed after the authenticator\'s, and its logins work', async () => {
  const dir = tempDir('up');
  fs.chmodSync(dir, 0o700);
  const upSock = path.join(dir, 'upstream.sock');
  const up = await startSshAgent(upSock);
  const keyFile = path.join(dir, 'id_local');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'local-key', '-f', keyFile]);
  assert.equal((await run('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: upSock } })).code, 0);
  const sock2 = path.join(dir, 'latch.sock');
  const agent2 = latchInteractive(['agent', '--socket', sock2], env.computer, { SSH_AUTH_SOCK: upSock });
  try {
    await agent2.waitFor(/agent listening on /);
    const r = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock2 } });
    const listed = r.stdout.trim().split('\n');
    assert.equal(listed.length, 3, r.stdout);
    assert.match(listed[2]!, /local-key$/);
    // A login with the upstream key only: no prompt on the authenticator.
    const local = await startSshd({ authorizedKeys: [fs.readFileSync(keyFile + '.pub', 'utf8').trim()] });
    try {
      const from = env.device.stderr().length;
      const login = await run('ssh', [...sshArgs(local.port, sock2), `${user}@127.0.0.1`, 'echo up'], {});
      assert.equal(login.code, 0, login.stderr);
      assert.equal(login.stdout.trim(), 'up');
      assert.doesNotMatch(env.device.stderr().slice(from), /APPROVAL REQUEST/);
    } finally {
      await local.stop();
    }
  } finally {
    await agent2.stop();
    await up.stop();
  }
});

test('a stored policy over the 7-day cap (an 87,600-hour "all SSH" one written into the keystore) is not honoured: the login is asked for, and policy list leaves it out', async () => {
  // Written as anything holding the passphrase could (issue 16 §1): the cap is re-checked on use.
  const ks = await Keystore.open(await sodiumReady(), latchPaths({ LATCH_HOME: env.phone }).keystoreFile, PASSPHRASE);
  const now = Math.floor(Date.now() / 1000);
  await ks.update((s) => {
    s.policies = [{ id: 'planted1', pairingId: s.pairings[0]!.id, computerName: s.pairings[0]!.computerName, scope: { kind: 'ssh' }, createdAt: now, expiresAt: now + 87_600 * 3600 }];
  });
  const listed = await latchRun(['device', 'policy', 'list', '--json'], { home: env.phone });
  assert.deepEqual(JSON.parse(listed.stdout).policies, []);
  const from = env.device.stderr().length;
  const login = ssh(sshd.port);
  assert.match(await answer('n', from), /SSH login as/);
  assert.notEqual((await login).code, 0);
  assert.doesNotMatch(env.device.stderr().slice(from), /approved by policy/);
  await ks.update((s) => void (s.policies = []));
});

test('authenticator offline: ssh fails cleanly after the sign timeout, and the agent keeps serving', async () => {
  await env.device.stop();
  const r = await ssh(sshd.port);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Permission denied \(publickey\)/);
  assert.match(env.agent.stderr(), /did not answer within 5 s/);
  const list = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
  assert.equal(list.code, 0);
});
