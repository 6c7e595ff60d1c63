import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { startAgentServer, type AgentServer } from '../src/agent/agent-server.js';
import { AgentClient } from '../src/agent/agent-client.js';
import { AgentMsg } from '../src/agent/agent-message-ids.js';
import { decodeIdentitiesAnswer, decodeSignResponse, encodeExtensionRequest, encodeRequestIdentities, encodeSignRequest, frame } from '../src/agent/agent-codec.js';
import { SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { ed25519PublicKeyBlob, formatAuthorizedKeyLine, parseAuthorizedKeyLine } from '../src/protocol/ssh/ssh-public-key.js';
import { ed25519SignatureBlob, verifySshSignature } from '../src/protocol/ssh/ssh-signature.js';
import { HOSTBOUND_METHOD } from '../src/protocol/ssh/ssh-userauth.js';
import { hostVerification } from '../src/protocol/ssh/host-verification.js';
import { LatchError, isLatchError } from '../src/util/latch-error.js';
import type { PeerCredentialSource } from '../src/agent/peer-guard.js';
import { LocalKeyBackend } from './helpers/local-key-backend.js';
import { startSshd, sshArgs, type TestSshd } from './helpers/sshd.js';
import { run, startSshAgent, tempDir } from './helpers/agent-test-env.js';

const tmp = tempDir('latch-agent-');
const sockDir = path.join(tmp, 'sock');
const socket = path.join(sockDir, 'agent.sock');
const upDir = tempDir('latch-upstream-');
const upSocket = path.join(upDir, 'up.sock');
const homeSshExisted = fs.existsSync(path.join(os.homedir(), '.ssh'));

const backend = new LocalKeyBackend(['ed25519', 'p256']);
let upstream: { stop(): Promise<void> };
let agent: AgentServer;
let sshd: TestSshd;
const logs: string[] = [];
const userKeyPath = path.join(tmp, 'user_key');
const env = () => ({ ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: '', DISPLAY: '' });

before(async () => {
  upstream = await startSshAgent(upSocket);
  agent = await startAgentServer({ socketPath: socket, backend, upstreamSocket: upSocket, log: (l) => logs.push(l) });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'upstream-user-key', '-f', userKeyPath]);
  const userPub = fs.readFileSync(userKeyPath + '.pub', 'utf8').trim();
  sshd = await startSshd({ authorizedKeys: [...backend.authorizedKeyLines(), userPub] });
  for (const k of backend.keys) fs.writeFileSync(path.join(tmp, `${k.type}.pub`), formatAuthorizedKeyLine(k.blob, k.comment) + '\n');
});

after(async () => {
  await agent?.close();
  await sshd?.stop();
  await upstream?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(upDir, { recursive: true, force: true });
});

function ssh(keyType: string | null, cmd: string) {
  const args = sshArgs(sshd.port, socket, tmp);
  if (keyType) args.push('-o', `IdentityFile=${path.join(tmp, `${keyType}.pub`)}`, '-o', 'IdentitiesOnly=yes');
  return run('ssh', [...args, `${os.userInfo().username}@127.0.0.1`, cmd], { env: env() });
}

test('socket is 0600 inside a 0700 directory; only unsafe directories are refused, saying why', async () => {
  assert.equal(fs.statSync(socket).mode & 0o777, 0o600);
  assert.equal(fs.statSync(sockDir).mode & 0o777, 0o700);
  assert.ok(logs.includes(`agent listening on ${socket}`));
  const dirWith = (name: string, mode: number, uid?: number): string => {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    fs.chmodSync(d, mode);
    if (uid !== undefined) fs.chownSync(d, uid, uid);
    return d;
  };
  // As `ssh-agent -a`: a directory only its owner can write is safe for a 0600 socket.
  for (const [name, mode] of [['readable', 0o755], ['group-read', 0o750], ['sticky', 0o1777]] as const) {
    const s = await startAgentServer({ socketPath: path.join(dirWith(name, mode), 's'), backend });
    assert.equal(fs.statSync(path.join(tmp, name, 's')).mode & 0o777, 0o600, name);
    await s.close();
  }
  const refused = async (dir: string, why: RegExp) =>
    assert.rejects(startAgentServer({ socketPath: path.join(dir, 's'), backend }), (e: unknown) => isLatchError(e, 'agent_socket_dir') && why.test(e.message));
  await refused(dirWith('group-writable', 0o775), /its group may write it and it is not sticky \(mode 0775\)/);
  await refused(dirWith('world-writable', 0o777), /group and others may write it and it is not sticky/);
  await refused(dirWith('not-mine', 0o700, 65534), /owned by uid 65534, not by you/);
  // A live socket is not stolen.
  await assert.rejects(startAgentServer({ socketPath: socket, backend }), (e: unknown) => isLatchError(e, 'agent_socket_in_use'));
});

test('ssh-add adds a key to the upstream agent through ours; ssh-add -L lists backend keys then upstream keys', async () => {
  const add = await run('ssh-add', [userKeyPath], { env: env() });
  assert.equal(add.code, 0, add.stderr);
  const list = await run('ssh-add', ['-L'], { env: env() });
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.ok(bytesEqual(parseAuthorizedKeyLine(lines[0]!).blob, backend.keys[0]!.blob));
  assert.ok(bytesEqual(parseAuthorizedKeyLine(lines[1]!).blob, backend.keys[1]!.blob));
  assert.equal(parseAuthorizedKeyLine(lines[1]!).type, 'ecdsa-sha2-nistp256');
  assert.equal(lines[2], fs.readFileSync(userKeyPath + '.pub', 'utf8').trim());
  // The upstream agent really holds it.
  const direct = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: upSocket } });
  assert.equal(direct.stdout.trim(), lines[2]);
});

for (const type of ['ed25519', 'p256'] as const) {
  test(`real ssh login through the agent with the ${type} key; backend sees a verified session bind`, async () => {
    const before = backend.seen.length;
    const r = await ssh(type, 'echo latch-login-ok');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'latch-login-ok');
    const seen = backend.seen.slice(before).filter((s) => s.kind === 'sign');
    assert.ok(seen.length >= 1);
    const last = seen[seen.length - 1]!;
    assert.ok(bytesEqual(last.keyBlob, backend.keyOf(type).blob));
    assert.equal(last.parsed?.kind, 'userauth');
    const hostBlob = parseAuthorizedKeyLine(sshd.hostPublicKey).blob;
    assert.ok(last.ctx.binds.length >= 1, 'ssh 9.2 sends session-bind@openssh.com');
    assert.ok(bytesEqual(last.ctx.binds[0]!.hostKeyBlob, hostBlob));
    assert.equal(last.ctx.binds[0]!.isForwarding, false);
    if (last.parsed?.kind === 'userauth') {
      assert.equal(last.parsed.userauth.method, HOSTBOUND_METHOD);
      assert.ok(bytesEqual(last.parsed.userauth.hostKeyBlob!, hostBlob));
      assert.ok(bytesEqual(last.parsed.userauth.sessionId, last.ctx.binds[0]!.sessionId));
      const hv = hostVerification(last.parsed.userauth, last.ctx.binds);
      assert.equal(hv.verified, true);
      assert.deepEqual(hostVerification({ ...last.parsed.userauth, sessionId: new Uint8Array(32) }, last.ctx.binds), { verified: false, reason: 'mismatch' });
      assert.deepEqual(hostVerification(last.parsed.userauth, []), { verified: false, reason: 'no-bind' });
      assert.deepEqual(hostVerification(last.parsed.userauth, [{ ...last.ctx.binds[0]!, isForwarding: true }]), { verified: false, reason: 'forwarded' });
    }
  });
}

test('login with an upstream key: the sign request is forwarded to ssh-agent', async () => {
  fs.copyFileSync(userKeyPath + '.pub', path.join(tmp, 'upstream.pub'));
  const before = backend.seen.length;
  const r = await ssh('upstream', 'echo upstream-ok');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'upstream-ok');
  assert.equal(backend.seen.length, before, 'the backend was not asked');
});

test('a backend that denies: Permission denied (publickey), and the agent keeps serving', async () => {
  backend.allow = false;
  try {
    const r = await ssh('ed25519', 'true');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  } finally {
    backend.allow = true;
  }
  const list = await run('ssh-add', ['-L'], { env: env() });
  assert.equal(list.code, 0);
  const again = await ssh('ed25519', 'echo back');
  assert.equal(again.stdout.trim(), 'back');
});

test('ssh-keygen -Y sign through the agent, then ssh-keygen -Y verify', async () => {
  const msg = path.join(tmp, 'msg.txt');
  fs.writeFileSync(msg, 'sign me\n');
  for (const type of ['ed25519', 'p256']) {
    const s = await run('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', path.join(tmp, `${type}.pub`), msg], { env: env() });
    assert.equal(s.code, 0, s.stderr);
    const allowed = path.join(tmp, 'allowed');
    fs.writeFileSync(allowed, `me@example ${fs.readFileSync(path.join(tmp, `${type}.pub`), 'utf8')}`);
    const v = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'me@example', '-n', 'file', '-s', msg + '.sig'], { input: 'sign me\n' });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Good "file" signature/);
    const bad = await run('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'me@example', '-n', 'file', '-s', msg + '.sig'], { input: 'sign you\n' });
    assert.notEqual(bad.code, 0);
    fs.rmSync(msg + '.sig');
  }
  const last = backend.seen[backend.seen.length - 1]!;
  assert.equal(last.parsed?.kind, 'sshsig');
});

function bindContents(sk: Uint8Array, sid: Uint8Array, forwarding: boolean, tamper = false): Uint8Array {
  const host = ed25519PublicKeyBlob(ed25519.getPublicKey(sk));
  const sig = ed25519SignatureBlob(ed25519.sign(sid, sk));
  if (tamper) sig[sig.length - 1]! ^= 1;
  return new SshWriter().string(host).string(sid).string(sig).bool(forwarding).bytes();
}

test('session-bind: tampered signature, rebinding to another key and the 17th bind are refused', async () => {
  const c = await AgentClient.connect(socket);
  try {
    const k1 = ed25519.utils.randomSecretKey();
    const k2 = ed25519.utils.randomSecretKey();
    const sid = (i: number) => new Uint8Array(32).fill(i);
    const bind = (contents: Uint8Array) => c.request(encodeExtensionRequest('session-bind@openssh.com', contents)).then((b) => b[0]);
    // ssh-agent.c process_extension answers FAILURE (5) to a refused bind; ssh reads 28 as "invalid format".
    assert.equal(await bind(bindContents(k1, sid(1), true, true)), AgentMsg.SSH_AGENT_FAILURE);
    assert.equal(await bind(bindContents(k1, sid(1), true)), AgentMsg.SSH_AGENT_SUCCESS);
    assert.equal(await bind(bindContents(k1, sid(1), true)), AgentMsg.SSH_AGENT_SUCCESS, 'same sid, same key: idempotent');
    assert.equal(await bind(bindContents(k2, sid(1), true)), AgentMsg.SSH_AGENT_FAILURE, 'rebinding to another key');
    for (let i = 2; i <= 16; i++) assert.equal(await bind(bindContents(k1, sid(i), true)), AgentMsg.SSH_AGENT_SUCCESS, `bind ${i}`);
    assert.equal(await bind(bindContents(k1, sid(17), true)), AgentMsg.SSH_AGENT_FAILURE, '17th bind');
    assert.equal(await bind(Uint8Array.of(1, 2, 3)), AgentMsg.SSH_AGENT_FAILURE, 'malformed');
    // The connection still works.
    assert.equal(decodeIdentitiesAnswer(await c.request(encodeRequestIdentities())).length >= 2, true);
  } finally {
    c.close();
  }
  // After an authentication (non-forwarding) bind, no further bind on that connection.
  const d = await AgentClient.connect(socket);
  try {
    const k = ed25519.utils.randomSecretKey();
    assert.equal((await d.request(encodeExtensionRequest('session-bind@openssh.com', bindContents(k, new Uint8Array(32).fill(1), false))))[0], AgentMsg.SSH_AGENT_SUCCESS);
    assert.equal((await d.request(encodeExtensionRequest('session-bind@openssh.com', bindContents(k, new Uint8Array(32).fill(2), false))))[0], AgentMsg.SSH_AGENT_FAILURE);
  } finally {
    d.close();
  }
});

test('sign requests: unknown key fails at once; non-SSH data is refused; valid data signs', async () => {
  const c = await AgentClient.connect(socket);
  try {
    const stranger = ed25519PublicKeyBlob(new Uint8Array(32).fill(8));
    const ua = (blob: Uint8Array) => new SshWriter().string(new Uint8Array(32).fill(1)).byte(50).string('me').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(blob).bytes();
    assert.equal((await c.request(encodeSignRequest(stranger, ua(stranger))))[0], AgentMsg.SSH_AGENT_FAILURE);
    const key = backend.keyOf('ed25519').blob;
    assert.equal((await c.request(encodeSignRequest(key, new Uint8Array(64))))[0], AgentMsg.SSH_AGENT_FAILURE, 'raw bytes');
    assert.equal((await c.request(encodeSignRequest(key, ua(stranger))))[0], AgentMsg.SSH_AGENT_FAILURE, 'userauth naming another key');
    const data = ua(key);
    const sig = decodeSignResponse(await c.request(encodeSignRequest(key, data)));
    assert.equal(await verifySshSignature(key, sig, data), true);
  } finally {
    c.close();
  }
});

test('without an upstream agent: ADD/REMOVE, UNLOCK of an unlocked agent and unknown messages get FAILURE', async () => {
  const dir = tempDir('latch-noup-');
  const s = await startAgentServer({ socketPath: path.join(dir, 'a', 's.sock'), backend });
  const c = await AgentClient.connect(path.join(dir, 'a', 's.sock'));
  try {
    const key = backend.keyOf('ed25519').blob;
    const frames: [string, Uint8Array][] = [
      ['ADD_IDENTITY', new SshWriter().byte(AgentMsg.SSH_AGENTC_ADD_IDENTITY).string('ssh-ed25519').string(new Uint8Array(32)).bytes()],
      ['ADD_ID_CONSTRAINED', Uint8Array.of(AgentMsg.SSH_AGENTC_ADD_ID_CONSTRAINED, 0, 0)],
      ['REMOVE_IDENTITY', new SshWriter().byte(AgentMsg.SSH_AGENTC_REMOVE_IDENTITY).string(key).bytes()],
      ['REMOVE_ALL', Uint8Array.of(AgentMsg.SSH_AGENTC_REMOVE_ALL_IDENTITIES)],
      ['ADD_SMARTCARD_KEY', new SshWriter().byte(AgentMsg.SSH_AGENTC_ADD_SMARTCARD_KEY).string('/lib/x.so').string('1234').bytes()],
      ['REMOVE_SMARTCARD_KEY', new SshWriter().byte(AgentMsg.SSH_AGENTC_REMOVE_SMARTCARD_KEY).string('/lib/x.so').string('1234').bytes()],
      ['UNLOCK (not locked)', new SshWriter().byte(AgentMsg.SSH_AGENTC_UNLOCK).string('pw').bytes()],
      ['legacy SSH1 request', Uint8Array.of(1)],
      ['unknown 99', Uint8Array.of(99, 1, 2, 3)],
      ['unknown extension', encodeExtensionRequest('nope@example.com', new Uint8Array(0))],
    ];
    for (const [name, f] of frames) assert.equal((await c.request(f))[0], AgentMsg.SSH_AGENT_FAILURE, name);
    assert.equal(decodeIdentitiesAnswer(await c.request(encodeRequestIdentities())).length, 2);
  } finally {
    c.close();
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** ssh-add -x / -X with the passphrase given through SSH_ASKPASS (ssh-add asks twice to lock). */
async function sshAddLock(flag: '-x' | '-X', passphrase: string, sock = socket) {
  const askpass = path.join(tmp, 'askpass.sh');
  fs.writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$LATCH_TEST_PW"\n', { mode: 0o700 });
  return run('ssh-add', [flag], { env: { ...process.env, SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', LATCH_TEST_PW: passphrase } });
}

async function lockedAgentRefusesEverything(sock: string): Promise<void> {
  const list = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
  assert.equal(list.code, 1, 'a locked agent lists nothing');
  assert.match(list.stdout + list.stderr, /The agent has no identities/);
  const c = await AgentClient.connect(sock);
  try {
    const key = backend.keyOf('ed25519').blob;
    const data = new SshWriter().string(new Uint8Array(32).fill(3)).byte(50).string('me').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(key).bytes();
    const seen = backend.seen.length;
    assert.equal((await c.request(encodeSignRequest(key, data)))[0], AgentMsg.SSH_AGENT_FAILURE, 'no signature from the authenticator');
    const signMessage = new SshWriter().string(key).string('git').string('tree 0\n').bytes();
    assert.equal((await c.request(encodeExtensionRequest('sign-message@latch.dev', signMessage)))[0], AgentMsg.SSH_AGENT_FAILURE, 'no git signature');
    assert.equal(backend.seen.length, seen, 'the authenticator was never asked');
    assert.equal((await c.request(new SshWriter().byte(AgentMsg.SSH_AGENTC_LOCK).string('again').bytes()))[0], AgentMsg.SSH_AGENT_FAILURE, 'locking twice');
  } finally {
    c.close();
  }
}

test('ssh-add -x locks everything, the authenticator keys and the upstream keys; -X with the same passphrase unlocks', async () => {
  const locked = await sshAddLock('-x', 'pw1');
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stderr, /Agent locked/);
  await lockedAgentRefusesEverything(socket);
  const login = await ssh('ed25519', 'true');
  assert.notEqual(login.code, 0, 'no login while locked');
  // The upstream agent was locked along with us.
  const direct = await run('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: upSocket } });
  assert.match(direct.stdout + direct.stderr, /The agent has no identities/);
  // Wrong passphrases fail, each answered later than the one before (as OpenSSH's agent).
  const from = logs.length;
  for (const pw of ['nope', 'nope2']) assert.notEqual((await sshAddLock('-X', pw)).code, 0);
  const delays = logs.slice(from).filter((l) => l.startsWith('wrong unlock passphrase'));
  assert.deepEqual(delays, ['wrong unlock passphrase (failure 1): answering in 0.1 s', 'wrong unlock passphrase (failure 2): answering in 0.2 s']);
  await lockedAgentRefusesEverything(socket);
  const unlocked = await sshAddLock('-X', 'pw1');
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.match(unlocked.stderr, /Agent unlocked/);
  const list = await run('ssh-add', ['-L'], { env: env() });
  assert.equal(list.stdout.trim().split('\n').length, 3, 'authenticator keys and the upstream key are back');
  const again = await ssh('ed25519', 'echo unlocked-ok');
  assert.equal(again.code, 0, again.stderr);
});

test('without an upstream agent: ssh-add -x locks the authenticator keys too', async () => {
  const dir = tempDir('latch-lock-noup-');
  const sock = path.join(dir, 'a', 's.sock');
  const s = await startAgentServer({ socketPath: sock, backend });
  try {
    const locked = await sshAddLock('-x', 'secret', sock);
    assert.equal(locked.code, 0, locked.stderr);
    await lockedAgentRefusesEverything(sock);
    assert.notEqual((await sshAddLock('-X', 'wrong', sock)).code, 0);
    assert.equal((await sshAddLock('-X', 'secret', sock)).code, 0);
    const list = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    assert.equal(list.stdout.trim().split('\n').length, 2);
  } finally {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Where peer uids cannot be read (not Linux, no perl), the socket's permissions are the check and
// fail closed. test/agent-peer-uid.test.ts covers the uid check itself.
const noPeerCredentials: PeerCredentialSource = {
  support: async () => ({ available: false, reason: 'test: no SO_PEERCRED' }),
  read: async () => {
    throw new LatchError('peer_credentials_unavailable', 'test: no SO_PEERCRED');
  },
};

test('without peer credentials, another user cannot use the agent: a socket whose mode was loosened serves no one until it is private again', async () => {
  const dir = tempDir('latch-peer-');
  fs.chmodSync(dir, 0o755); // a directory others may enter, allowed for -a
  const sock = path.join(dir, 's.sock');
  const peerLogs: string[] = [];
  const s = await startAgentServer({ socketPath: sock, backend, upstreamSocket: upSocket, log: (l) => peerLogs.push(l), peerCredentials: noPeerCredentials });
  assert.ok(peerLogs.includes('peer uid check unavailable (test: no SO_PEERCRED); only the socket\'s permissions keep other users out (docs/AGENT.md "Who may connect")'), peerLogs.join('\n'));
  const asNobody = () =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile('ssh-add', ['-L'], { uid: 65534, gid: 65534, env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  try {
    const mine = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    assert.equal(mine.code, 0, mine.stderr);
    assert.notEqual((await asNobody()).code, 0, 'the kernel refuses another user on a 0600 socket');
    fs.chmodSync(sock, 0o666); // a mistake, or someone else's doing
    const other = await asNobody();
    assert.notEqual(other.code, 0, `another user was served: ${other.out}`);
    assert.doesNotMatch(other.out, /ssh-ed25519 AAAA/);
    assert.ok(peerLogs.some((l) => l.includes('refusing a connection') && l.includes('mode 0666') && l.includes('chmod 600')), peerLogs.join('\n'));
    fs.chmodSync(sock, 0o600);
    assert.equal((await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).code, 0);
  } finally {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a connection whose peer uid cannot be read is judged by the socket permissions: served while 0600, refused once loosened', async () => {
  const dir = tempDir('latch-peer-fail-');
  const sock = path.join(dir, 's.sock');
  const peerLogs: string[] = [];
  const failingRead: PeerCredentialSource = {
    support: async () => ({ available: true }),
    read: async () => {
      throw new LatchError('peer_credentials_unavailable', 'test: perl failed');
    },
  };
  const s = await startAgentServer({ socketPath: sock, backend, log: (l) => peerLogs.push(l), peerCredentials: failingRead });
  const list = () => run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
  try {
    assert.equal((await list()).code, 0);
    assert.ok(peerLogs.includes("cannot read the peer uid of a connection (test: perl failed); checking the socket's permissions instead"), peerLogs.join('\n'));
    fs.chmodSync(sock, 0o666);
    assert.notEqual((await list()).code, 0, 'fails closed');
    assert.ok(peerLogs.some((l) => l.startsWith('refusing a connection: ') && l.includes('mode 0666')), peerLogs.join('\n'));
  } finally {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function rawConnect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socket);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('an oversized frame closes that connection only', async () => {
  const good = await AgentClient.connect(socket);
  const bad = await rawConnect();
  const closed = new Promise<void>((r) => bad.once('close', () => r()));
  bad.on('error', () => undefined);
  const hdr = new SshWriter().uint32(256 * 1024 + 1).bytes();
  bad.write(hdr);
  bad.write(new Uint8Array(1024));
  await closed;
  assert.equal(decodeIdentitiesAnswer(await good.request(encodeRequestIdentities())).length, 3);
  good.close();
  // A frame of exactly 256 KiB is still read (and answered FAILURE as an unknown message).
  const big = await AgentClient.connect(socket);
  const body = new Uint8Array(256 * 1024);
  body[0] = 99;
  assert.equal((await big.request(body))[0], AgentMsg.SSH_AGENT_FAILURE);
  big.close();
});

test('50 concurrent clients each list and sign', async () => {
  const key = backend.keyOf('p256').blob;
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const c = await AgentClient.connect(socket);
      try {
        const ids = decodeIdentitiesAnswer(await c.request(encodeRequestIdentities()));
        const data = new SshWriter().string(new Uint8Array(32).fill(i)).byte(50).string(`u${i}`).string('ssh-connection').string('publickey').bool(true).string('ecdsa-sha2-nistp256').string(key).bytes();
        const sig = decodeSignResponse(await c.request(encodeSignRequest(key, data)));
        return ids.length === 3 && (await verifySshSignature(key, sig, data));
      } finally {
        c.close();
      }
    }),
  );
  assert.deepEqual(results, Array(50).fill(true));
});

test('~/.ssh was left untouched', () => {
  assert.equal(fs.existsSync(path.join(os.homedir(), '.ssh')), homeSshExisted);
});
