/**
 * Issue 3, setup and diagnosis: `latch ssh setup` changes only its block (shown first, undoable)
 * and the config it writes works with real ssh (IdentityAgent + the host-name hint);
 * `latch git setup --global` + `latch doctor` report each check, and name the fix for a problem.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type TestSshd } from './helpers/sshd.js';
import { run } from './helpers/agent-test-env.js';
import { latchRun, tempDir } from './helpers/latch-process.js';
import { setupLatchSsh, type LatchSshEnv } from './helpers/latch-ssh-env.js';

let env: LatchSshEnv;
let sshd: TestSshd;

before(async () => {
  env = await setupLatchSsh({ deviceArgs: ['--auto-approve'] });
  sshd = await startSshd({ authorizedKeys: env.keys });
});
after(async () => {
  await sshd?.stop();
  await env?.stop();
});

test('latch ssh setup: shows the diff, asks (refuses without a terminal), --yes applies, --undo restores', async () => {
  const dir = tempDir('sshcfg');
  const config = path.join(dir, 'config');
  const original = 'Host old\n    User someone\n';
  fs.writeFileSync(config, original);
  const asked = await latchRun(['ssh', 'setup', '--config', config, '--agent', env.agentSocket], { home: env.computer });
  assert.equal(asked.code, 1);
  assert.match(asked.stderr, /re-run with --yes/);
  assert.equal(fs.readFileSync(config, 'utf8'), original);

  const r = await latchRun(['ssh', 'setup', '--config', config, '--agent', env.agentSocket, '--yes'], { home: env.computer });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^\+    IdentityAgent /m);
  assert.match(r.stderr, /To undo: latch ssh setup --undo/);
  const text = fs.readFileSync(config, 'utf8');
  assert.ok(text.endsWith(original), 'the old config is kept, after the block');
  assert.match(text, /^# >>> latch ssh setup >>>/);
  assert.match(text, new RegExp(`IdentityAgent ${env.agentSocket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(fs.readFileSync(config + '.latch-backup', 'utf8'), original);

  const again = await latchRun(['ssh', 'setup', '--config', config, '--agent', env.agentSocket, '--yes'], { home: env.computer });
  assert.match(again.stderr, /nothing to change/);
  assert.equal(fs.readFileSync(config, 'utf8'), text);

  // The config it wrote works with real ssh, and the hint names the host on the authenticator.
  const user = os.userInfo().username;
  const from = env.device.stderr().length;
  const login = await run('ssh', ['-F', config, '-o', `UserKnownHostsFile=${path.join(dir, 'kh')}`, '-o', 'StrictHostKeyChecking=accept-new', '-o', 'BatchMode=yes', '-p', String(sshd.port), `${user}@127.0.0.1`, 'echo via-config'], {
    env: { ...process.env, SSH_AUTH_SOCK: '' },
  });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(login.stdout.trim(), 'via-config');
  assert.match(env.device.stderr().slice(from), new RegExp(`approved: SSH login as ${user}@\\[127\\.0\\.0\\.1\\]:${sshd.port}`));
  // ssh runs the KnownHostsCommand once with %K = NONE: skipped quietly, without starting node.
  assert.doesNotMatch(env.agent.stderr(), /refused a malformed host hint/);
  assert.match(text, /KnownHostsCommand \/bin\/sh -c '\[ "\$9" = NONE \] \|\| exec "\$0" "\$@"' /);

  const undo = await latchRun(['ssh', 'setup', '--config', config, '--undo', '--yes'], { home: env.computer });
  assert.equal(undo.code, 0, undo.stderr);
  assert.equal(fs.readFileSync(config, 'utf8'), original);
});

test('latch doctor: all ok when set up; names the problem and the fix when the authenticator is away', async () => {
  const home = tempDir('dochome');
  const gitEnv = { HOME: home, GIT_CONFIG_GLOBAL: path.join(home, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1' };
  fs.writeFileSync(gitEnv.GIT_CONFIG_GLOBAL, '[user]\n\temail = doc@example.com\n');
  const g = await latchRun(['git', 'setup', '--global', '--agent', env.agentSocket], { home: env.computer, env: gitEnv });
  assert.equal(g.code, 0, g.stderr);
  const ok = await latchRun(['doctor', '--agent', env.agentSocket, '--json'], { home: env.computer, env: gitEnv });
  const report = JSON.parse(ok.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
  assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [['pairing', true], ['relay', true], ['authenticator', true], ['agent', true], ['openssh', true], ['git', true]]);
  assert.equal(ok.code, 0);
  const okText = await latchRun(['doctor', '--agent', env.agentSocket], { home: env.computer, env: gitEnv });
  assert.equal(okText.code, 0, okText.stderr);
  assert.doesNotMatch(okText.stderr, /PROBLEM/);

  await env.device.stop();
  try {
    const bad = await latchRun(['doctor', '--agent', path.join(tempDir('none'), 'nothing.sock')], { home: env.computer, env: { HOME: home, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /PROBLEM authenticator: .*\n\s+fix: .*latch device run/);
    assert.match(bad.stderr, /PROBLEM agent: nothing answers .*\n\s+fix: start it/);
    assert.match(bad.stderr, /PROBLEM git: gpg\.format is unset.*\n\s+fix: run `latch git setup/);
    assert.match(bad.stderr, /^ok {6}relay: /m);
  } finally {
    await env.startDevice();
  }
});
