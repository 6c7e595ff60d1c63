/**
 * Issue 12 item 3: `latch agent` reads the connecting peer's uid (SO_PEERCRED) and serves only
 * its own uid and root, as OpenSSH's agent does, even when its socket has been made reachable
 * by others (docs/AGENT.md "Who may connect"). Real processes: a relay, a paired computer's
 * `latch agent` in front of a stock `ssh-agent`, and ssh-add run as root and as `nobody`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { peerCredentials, readPeerCredentials } from '../src/agent/peer-credentials.js';
import { isLatchError } from '../src/util/latch-error.js';
import { latch, newAuthenticator, pairComputer, startLatchServer, tempDir } from './helpers/latch-process.js';
import { run, startSshAgent } from './helpers/agent-test-env.js';

// runuser needs root; CI runs the suite as root (.ci/run installs packages with apt-get).
const NOT_ROOT = process.getuid?.() !== 0 ? 'needs root, to run ssh-add as another user (runuser -u nobody)' : false;

test('a socket reachable by another user still serves only the agent own uid and root; the other uid is refused before any request', { skip: NOT_ROOT }, async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(server, phone);

  // A stock ssh-agent upstream holding a key of the user's: what another user must not reach.
  const upDir = tempDir('peer-upstream');
  const upSocket = path.join(upDir, 'up.sock');
  const upstream = await startSshAgent(upSocket);
  after(() => upstream.stop());
  const userKey = path.join(upDir, 'user_key');
  assert.equal((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'upstream-user-key', '-f', userKey])).code, 0);
  assert.equal((await run('ssh-add', [userKey], { env: { ...process.env, SSH_AUTH_SOCK: upSocket } })).code, 0);

  const top = tempDir('peer-agent');
  const socket = path.join(top, 'a', 'agent.sock');
  const agent = latch(['agent', '--socket', socket, '--upstream', upSocket], { home: computer });
  after(() => agent.kill());
  await agent.waitFor(/agent listening on /);

  const asRoot = () => run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  const asNobody = (...args: string[]) => run('runuser', ['-u', 'nobody', '--', 'env', '-i', `PATH=${process.env.PATH}`, `SSH_AUTH_SOCK=${socket}`, 'ssh-add', ...args]);

  const before = await asRoot();
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /upstream-user-key/);

  // Hand the socket to everyone, as a mistaken chmod or a shared directory would.
  fs.chmodSync(top, 0o755);
  fs.chmodSync(path.dirname(socket), 0o755);
  fs.chmodSync(socket, 0o666);

  const other = await asNobody('-L');
  assert.notEqual(other.code, 0, `another user was served: ${other.stdout}`);
  assert.doesNotMatch(other.stdout + other.stderr, /ssh-ed25519 AAAA|upstream-user-key/);
  const refused = await agent.waitFor(/refusing a connection from uid 65534 \(pid (\d+)\): only root \(uid 0\) may use this agent/);
  assert.ok(Number(refused[1]) > 0, 'the log names the peer pid');

  // Nothing it sent was processed: a remove-all would have been forwarded to the upstream agent.
  assert.notEqual((await asNobody('-D')).code, 0);
  const direct = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: upSocket } });
  assert.match(direct.stdout, /upstream-user-key/, 'the upstream agent still holds the key');

  // The agent's own user (root here) is still served through the loosened socket.
  const mine = await asRoot();
  assert.equal(mine.code, 0, `${mine.stderr}\n${agent.stderr()}`);
  assert.equal(mine.stdout, before.stdout);
  assert.equal(agent.stderr().match(/peer check: each connection's uid is read \(SO_PEERCRED via \/usr\/bin\/perl\)/g)?.length, 1, agent.stderr());
  assert.doesNotMatch(agent.stderr(), /cannot read the peer uid/);

  // The host hint socket beside it is guarded the same way: another user cannot plant a host name.
  const hintSocket = `${socket}.hint`;
  await agent.waitFor(/\[agent\] keys of /); // logged once the hint socket is served
  assert.equal(fs.statSync(hintSocket).mode & 0o777, 0o600);
  fs.chmodSync(hintSocket, 0o666);
  const hostKey = fs.readFileSync(userKey + '.pub', 'utf8').split(' ')[1]!;
  const hintLine = JSON.stringify({ user: 'me', host: 'planted.example', port: 22, host_key: hostKey });
  // A raw client: connect, send one hint line, print what the agent answers.
  const client = `const c = require('net').createConnection(process.argv[1]); let o = ''; c.on('connect', () => c.write(process.argv[2] + '\\n')); c.on('data', (d) => (o += d)); c.on('error', () => undefined); c.on('close', () => process.stdout.write(JSON.stringify(o)));`;
  const plant = await run('runuser', ['-u', 'nobody', '--', process.execPath, '-e', client, hintSocket, hintLine]);
  assert.equal(plant.stdout, '""', `another user's hint was answered: ${plant.stdout} ${plant.stderr}`);
  await agent.waitFor(/refusing a host hint from uid 65534 \(pid \d+\): only root \(uid 0\) may use this agent/);
  const own = await run(process.execPath, ['-e', client, hintSocket, hintLine]);
  assert.equal(own.stdout, JSON.stringify('ok\n'), own.stderr);
});

/** Accept one connection on `listen` args, connect to it, and hand back the server's side. */
async function acceptedSocket(listen: string | { port: number; host: string }): Promise<{ accepted: net.Socket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(listen as never, () => r()));
  const address = typeof listen === 'string' ? listen : { port: (server.address() as net.AddressInfo).port, host: listen.host };
  const acceptedP = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.createConnection(address as never);
  client.on('error', () => undefined);
  const accepted = await acceptedP;
  return { accepted, close: () => (client.destroy(), accepted.destroy(), server.close()) };
}

test('peerCredentials reads the pid and uid of a unix socket peer, and refuses a socket that is not a unix one', async () => {
  const unix = await acceptedSocket(path.join(tempDir('peer-creds'), 's.sock'));
  try {
    assert.deepEqual(await peerCredentials(unix.accepted), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  } finally {
    unix.close();
  }
  const tcp = await acceptedSocket({ port: 0, host: '127.0.0.1' });
  try {
    await assert.rejects(readPeerCredentials(tcp.accepted), (e: unknown) => isLatchError(e, 'peer_credentials_unavailable') && /fd 3 is not a unix socket/.test(e.message));
    assert.equal(await peerCredentials(tcp.accepted), undefined);
  } finally {
    tcp.close();
  }
});
