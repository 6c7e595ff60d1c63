/** `latch agent --background`: detaches, prints what `eval` needs, and serves ssh-add. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { latchRun, startLatchServer, newAuthenticator, pairComputer, tempDir } from './helpers/latch-process.js';

test('latch agent --background prints SSH_AUTH_SOCK and SSH_AGENT_PID, and the agent answers ssh-add', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(server, phone);
  const socket = join(tempDir('agent'), 'a', 'agent.sock');
  const r = await latchRun(['agent', '--background', '--socket', socket, '--no-upstream'], { home: computer });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^SSH_AUTH_SOCK=${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; export SSH_AUTH_SOCK;\nSSH_AGENT_PID=(\\d+); export SSH_AGENT_PID;\n$`));
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(r.stdout)![1]);
  after(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  });
  const keys = execFileSync('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: socket } }).toString();
  assert.match(keys, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\S+ /);
  process.kill(pid, 'SIGTERM');
});

test('latch agent --background reports why it could not start', async () => {
  const r = await latchRun(['agent', '--background', '--socket', join(tempDir('agent'), 'x.sock')], { home: tempDir('unpaired') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /latch agent did not start \(exit 1\):[\s\S]*not paired[\s\S]*\[background_start_failed\]/);
});
