/**
 * Issue 10, the whole flow with its parties on different nodes, over real processes: three
 * `nats-server -js` nodes clustered on loopback (R3) and three `latch server` nodes on them. A
 * computer that talks to node A and an authenticator that talks to node B pair, log in to
 * Debian's sshd and sign a git commit through the agent that stock `git verify-commit` accepts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startLatchCluster, pairAcrossNodes, sshLogin, type LatchCluster, type CrossNodePair } from './helpers/latch-cluster.js';
import { startSshd, type TestSshd } from './helpers/sshd.js';
import { signingRepo } from './helpers/git-repo.js';

let cluster: LatchCluster;
let pair: CrossNodePair;
const stops: (() => Promise<void>)[] = [];

before(async () => {
  cluster = await startLatchCluster({ args: ['--rate-limit', 'off'] });
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await cluster?.stop();
});

test('pairing, an ssh login and a git signature with the computer on node A and the authenticator on node B', async () => {
  pair = await pairAcrossNodes(cluster, 0, 1);
  stops.push(() => pair.stop());
  const sshd: TestSshd = await startSshd({ authorizedKeys: pair.keys });
  stops.push(() => sshd.stop());
  const login = await sshLogin(pair, sshd.port);
  assert.equal(login.code, 0, `${login.stderr}\n${pair.device.stderr()}\n${pair.agent.stderr()}`);
  assert.equal(login.stdout.trim(), 'logged-in');

  const repo = await signingRepo({ prefix: 'cluster-git', computer: pair.computer, agentSocket: pair.agentSocket });
  fs.writeFileSync(path.join(repo.repo, 'a.txt'), 'across nodes\n');
  assert.equal((await repo.git(['add', 'a.txt'])).code, 0);
  const from = pair.device.stderr().length;
  const commit = await repo.git(['commit', '-S', '-q', '-m', 'signed across nodes']);
  assert.equal(commit.code, 0, `${commit.stderr}\n${pair.device.stderr()}\n${pair.agent.stderr()}`);
  // The authenticator (on node B) was asked for a git signature, and it is one git accepts.
  assert.match(pair.device.stderr().slice(from), /signed across nodes/);
  const verify = await repo.git(['verify-commit', 'HEAD']);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stderr, /Good "git" signature for ann@example\.com/);
});
