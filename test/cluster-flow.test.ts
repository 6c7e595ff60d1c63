/**
 * Issue 10, the whole flow with its parties on different nodes, over real processes: three
 * `nats-server -js` nodes clustered on loopback (R3), one private PostgreSQL, and three `latch
 * server` nodes sharing both (`--relay-store`, `--custody-db`). A computer that talks to node A and
 * an authenticator that talks to node B pair, log in to Debian's sshd and sign a git commit
 * through the agent that stock `git verify-commit` accepts. Then custody: the same authenticator
 * creates an account and transfers through node C, a second device joins through node B (the
 * authenticator approves the join it hears of through the shared relay), and the recipient reads
 * the result through node A.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startLatchCluster, pairAcrossNodes, sshLogin, type LatchCluster, type CrossNodePair } from './helpers/latch-cluster.js';
import { startSshd, type TestSshd } from './helpers/sshd.js';
import { signingRepo } from './helpers/git-repo.js';
import { latch, latchRun, type LatchServer } from './helpers/latch-process.js';
import { latchInteractive } from './helpers/latch-ssh-env.js';
import { startPrivatePostgres, type PrivatePostgres } from './helpers/private-postgres.js';
import { cliLogin, json, outboxCode } from './helpers/custody-env.js';

// One master key for the server keys every node reads from the shared database.
const MASTER_KEY = randomBytes(32).toString('hex');
let pg: PrivatePostgres;
let cluster: LatchCluster;
let pair: CrossNodePair;
const stops: (() => Promise<void>)[] = [];

before(async () => {
  pg = await startPrivatePostgres();
  cluster = await startLatchCluster({
    args: ['--rate-limit', 'off', '--custody-db', pg.url, '--recovery-delay', '0'],
    env: { LATCH_MASTER_KEY: MASTER_KEY },
  });
});

after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await cluster?.stop();
  await pg?.destroy();
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

test('custody across nodes: create and transfer through node C, a device joins through node B, the authenticator approves over the shared relay, node A sees it all', async () => {
  assert.ok(pair, 'runs after the pairing test, with its authenticator');
  const [a, b, c] = cluster.nodes as [LatchServer, LatchServer, LatchServer];
  // The paired authenticator logs in to custody through node C.
  await pair.stop();
  const login = await latchRun(['login', '--email', 'ada@example.com', '--server', c.url], { home: pair.phone });
  assert.equal(login.code, 0, login.stderr);
  json(await latchRun(['login', '--email', 'ada@example.com', '--code', outboxCode(c.dataDir, 'ada@example.com'), '--json'], { home: pair.phone }));
  const ada = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: pair.phone })).address;
  const bob = await cliLogin(a, 'bob', 'bob@example.com');
  const bobAddr = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: bob })).address;
  const balance = async (): Promise<string> => json<{ balance: string }>(await latchRun(['account', 'show', bobAddr, '--json'], { home: bob })).balance;
  const start = await balance();

  const sent = json<{ transaction: { envelope_signatures: { key_index: string }[] } }>(await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '10', '--json'], { home: pair.phone }));
  assert.deepEqual(sent.transaction.envelope_signatures.map((x) => x.key_index).sort(), ['0', '1'], 'device and server key');
  assert.equal(Number(await balance()) - Number(start), 10, 'node A sees the transfer node C co-signed');

  // The authenticator listens again (pairings and its custody inbox, on node C's relay URL).
  const device = latchInteractive(['device', 'run', '--auto-approve'], pair.phone);
  stops.push(() => device.stop());
  await device.waitFor(/custody: listening for join and recovery requests of account/);
  const tablet = await cliLogin(b, 'tablet', 'ada@example.com');
  const join = latch(['account', 'join', ada, '--json'], { home: tablet });
  const joined = await join.exited;
  assert.equal(joined.code, 0, `${join.stderr()}\n${device.stderr()}`);
  assert.equal(JSON.parse(join.stdout()).key_index, 2);
  await device.waitFor(/join request for account .*device "tablet"/);
  const tabletSend = await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '1', '--json'], { home: tablet });
  assert.equal(tabletSend.code, 0, tabletSend.stderr);
  assert.equal(Number(await balance()) - Number(start), 11, 'node A sees the transfer node B co-signed for the joined device');
  const shown = json<{ keys: { index: string; role: string }[] }>(await latchRun(['account', 'show', '--json'], { home: tablet }));
  assert.deepEqual(shown.keys.map((k) => k.role), ['device', 'server', 'device']);

  // One audit chain in PostgreSQL, whichever node wrote each entry, checked from any node.
  const audit = await latchRun(['server', 'audit', 'verify', '--data', a.dataDir, '--custody-db', pg.url, '--json'], { env: { LATCH_MASTER_KEY: MASTER_KEY } });
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  assert.equal(JSON.parse(audit.stdout).ok, true);
});
