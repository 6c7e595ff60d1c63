/**
 * Issue 12 item 7, ghost prompts: a request carries its deadline (PROTOCOL.md §5.2); the
 * authenticator drops one that arrives after it, unseen, and says why in its log; a prompt shows
 * the request's age, and a request older than the time its computer waits gets no timed
 * approval; a prompt that waited in the queue past the computer's wait is dropped unseen.
 * In process with the real keystore, request core and terminal prompt (a pipe for stdin, a
 * settable clock), then with real processes: `latch agent` and `latch device run`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import * as P from '../src/protocol/index.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { RequestHandler } from '../src/authenticator/request-handler.js';
import { ConsoleApprover } from '../src/authenticator/console-approver.js';
import { generateEd25519SshKey } from '../src/authenticator/ssh-key-factory.js';
import { keystoreWithPairing, testPairing } from './helpers/test-pairing.js';
import { setupLatchSsh } from './helpers/latch-ssh-env.js';
import { startSshd, sshArgs } from './helpers/sshd.js';
import { run, untilClockPasses } from './helpers/agent-test-env.js';
import { DEADLINE_GRACE_SECONDS } from '../src/protocol/protocol-constants.js';

const PASS = 'test passphrase';
const COMMIT = 'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor Ada <ada@example.com> 1795443186 +0000\ncommitter Ada <ada@example.com> 1795443186 +0000\n\nfix the thing\n';

async function setup() {
  const s = await P.sodiumReady();
  const { pairing, computer, session } = testPairing(s);
  const key = generateEd25519SshKey(s, 'main', 0);
  const path = await keystoreWithPairing(s, pairing, PASS, [key]);
  const ks = await Keystore.open(s, path, PASS);
  let now = P.nowSeconds();
  const clock = { now: () => now, advance: (sec: number) => void (now += sec) };
  const stdin = new PassThrough();
  let screen = '';
  const logs: string[] = [];
  const approver = new ConsoleApprover(stdin, (t) => void (screen += t), 50, (l) => logs.push(l), clock.now);
  const handler = new RequestHandler(s, ks, (l) => logs.push(l), clock.now, { approver });
  const gitRequest = (sent: number, deadline?: number): P.RequestMessage => ({
    v: 1,
    type: 'request',
    request_id: P.newRequestId(s),
    unix_seconds: sent,
    ...(deadline !== undefined ? { deadline } : {}),
    body: { kind: 'sign_message', key: P.encodeBase64url(P.decodeBase64(key.publicBlob, 'key')), namespace: 'git', message: P.encodeBase64url(new TextEncoder().encode(COMMIT)) },
  });
  /** Send a request; resolves with the response message (acks are skipped). */
  const send = async (m: P.RequestMessage, onAck?: () => void): Promise<P.ResponseMessage> => {
    let response: P.ResponseMessage | undefined;
    await handler.handle(pairing, P.boxMessageRandom(s, P.encodeMessage(m), session.publicKey, computer.privateKey), async (env) => {
      const msg = P.parseMessage(P.openBoxedMessage(s, env, session.publicKey, computer.privateKey));
      if (msg.type === 'response') response = msg;
      else if (msg.type === 'ack') onAck?.();
    });
    return response!;
  };
  const waitForScreen = async (re: RegExp): Promise<void> => {
    while (!re.test(screen)) await new Promise((r) => setImmediate(r));
  };
  return { ks, clock, stdin, logs, send, gitRequest, waitForScreen, screen: () => screen };
}

test('a request that arrives after its deadline is dropped unseen, and the log says why', async () => {
  const t = await setup();
  const now = t.clock.now();
  const r = await t.send(t.gitRequest(now - 41, now - 11));
  assert.equal(r.error?.code, 'request_expired');
  assert.doesNotMatch(t.screen(), /APPROVAL REQUEST/, 'never shown');
  assert.ok(t.logs.some((l) => /dropped request \S+ \(sign_message\) from laptop unseen: it arrived 11 s after its deadline/.test(l)), t.logs.join('\n'));
  // Within the 10 s grace for clock differences it is still shown.
  const late = t.send(t.gitRequest(now - 40, now - 10));
  await t.waitForScreen(/> $/);
  t.stdin.write('d\n');
  assert.equal((await late).error?.code, 'denied');
});

test('a stale request (20 minutes off) is refused with stale_message, and the authenticator logs why', async () => {
  const t = await setup();
  const r = await t.send(t.gitRequest(t.clock.now() - 1200, t.clock.now() - 1170));
  assert.equal(r.error?.code, 'stale_message');
  assert.ok(t.logs.some((l) => /refused request \S+ \(sign_message\) from laptop: stale_message: message time is 20 minutes off this clock/.test(l)), t.logs.join('\n'));
});

test('a prompt shows the request age; one older than its sign timeout (an older computer, no deadline) gets no timed approval', async () => {
  const t = await setup();
  const fresh = t.send(t.gitRequest(t.clock.now() - 2, t.clock.now() + 28));
  await t.waitForScreen(/> $/);
  assert.match(t.screen(), /sent 2 s ago\n/);
  assert.match(t.screen(), /g \[HOURS\] = all git signatures for 3 h/);
  t.stdin.write('y\n');
  assert.ok((await fresh).result);

  const from = t.screen().length;
  const old = t.send(t.gitRequest(t.clock.now() - 120));
  await t.waitForScreen(/> $/);
  const prompt = t.screen().slice(from);
  assert.match(prompt, /sent 2 min ago, longer than the 30 s its computer waits: approve once or deny only/);
  assert.doesNotMatch(prompt, /g \[HOURS\]/);
  assert.match(prompt, /\(no timed approval: the request is older than its sign timeout\)/);
  t.stdin.write('g 3\n'); // asked for a timed approval anyway: approved once only
  assert.ok((await old).result);
  assert.deepEqual(t.ks.state.policies ?? [], []);
});

test('a prompt that waited in the queue until its computer stopped waiting is dropped unseen', async () => {
  const t = await setup();
  const first = t.send(t.gitRequest(t.clock.now(), t.clock.now() + 30));
  await t.waitForScreen(/> $/);
  let acked!: () => void;
  const ack = new Promise<void>((r) => (acked = r));
  const second = t.send(t.gitRequest(t.clock.now(), t.clock.now() + 30), () => acked()); // acked, queued behind the first
  await ack;
  t.clock.advance(61); // the person looked away; the second computer waited its 60 s after the ack
  t.stdin.write('y\n');
  assert.ok((await first).result);
  const r = await second;
  assert.equal(r.error?.code, 'denied');
  assert.equal(t.screen().match(/=== APPROVAL REQUEST ===/g)?.length, 1, 'the second request was never shown');
  assert.ok(t.logs.some((l) => /dropped unseen: Git commit signature \(it waited in the queue until its computer stopped waiting\)/.test(l)), t.logs.join('\n'));
});

test('latch device run: a login the computer gave up on while the authenticator was away is not prompted when it comes back', async () => {
  const env = await setupLatchSsh();
  const sshd = await startSshd({ authorizedKeys: env.keys });
  try {
    await env.device.stop();
    const args = [...sshArgs(sshd.port, env.agentSocket, env.dir), `${os.userInfo().username}@127.0.0.1`, 'true'];
    const gaveUp = await run('ssh', args, { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
    assert.notEqual(gaveUp.code, 0);
    await env.agent.waitFor(/did not answer within 5 s/);
    // The deadline is when the agent gave up: wait out the grace for clock differences too.
    await untilClockPasses(Date.now() / 1000 + DEADLINE_GRACE_SECONDS + 2);
    const device = await env.startDevice();
    await device.waitFor(/dropped request \S+ \(ssh_sign\) from \S+ unseen: it arrived \d+ s after its deadline/);
    assert.doesNotMatch(device.stderr(), /APPROVAL REQUEST/);
    // A login now is prompted, with its age.
    const from = device.stderr().length;
    const login = run('ssh', args, { env: { ...process.env, SSH_AUTH_SOCK: env.agentSocket } });
    await device.waitFor(/> $/, { from });
    assert.match(device.stderr().slice(from), /\n {2}sent \d+ s ago\n/);
    device.write('y\n');
    assert.equal((await login).code, 0);
  } finally {
    await sshd.stop();
    await env.stop();
  }
});
