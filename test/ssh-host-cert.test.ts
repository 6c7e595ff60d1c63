/**
 * Issue 12 item 1: a server whose host key is an OpenSSH certificate (sshd HostCertificate,
 * made with ssh-keygen -s). ssh binds the agent connection with the certificate; the agent
 * must verify the bind with the certified key, pass it to the upstream agent (so keys added
 * with `ssh-add -h` work there), and the authenticator must show the CA and principals and
 * pin the certified key.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { startAgentServer } from '../src/agent/agent-server.js';
import { parseAuthorizedKeyLine, sshFingerprint } from '../src/protocol/ssh/ssh-public-key.js';
import { decodeBase64 } from '../src/protocol/base64url.js';
import { parseHostKey } from '../src/protocol/ssh/ssh-certificate.js';
import { hostVerification } from '../src/protocol/ssh/host-verification.js';
import { latchBlock } from '../src/computer/ssh-config-block.js';
import { LocalKeyBackend } from './helpers/local-key-backend.js';
import { startSshd, sshArgs } from './helpers/sshd.js';
import { run, startSshAgent, tempDir } from './helpers/agent-test-env.js';
import { LATCH_CLI, latchRun } from './helpers/latch-process.js';
import { setupLatchSsh } from './helpers/latch-ssh-env.js';

const tmp = tempDir('latch-hostcert-');
const caKey = path.join(tmp, 'host_ca');
const user = os.userInfo().username;

before(async () => {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'latch-test-ca', '-f', caKey]);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The certificate blob of a `*-cert-v01@openssh.com AAAA... comment` line. */
function certBlob(line: string): Uint8Array {
  return decodeBase64(line.split(' ')[1]!, 'certificate');
}

for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
  test(`${type} host certificate: the session-bind verifies, the login is verified, and an upstream ssh-add -h key works`, async () => {
    const dir = tempDir(`latch-hc-${type}-`);
    const socket = path.join(dir, 'agent.sock');
    const upSocket = path.join(dir, 'up.sock');
    const backend = new LocalKeyBackend(['ed25519']);
    const logs: string[] = [];
    const upstream = await startSshAgent(upSocket);
    const agent = await startAgentServer({ socketPath: socket, backend, upstreamSocket: upSocket, log: (l) => logs.push(l) });
    const userKey = path.join(dir, 'user_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'constrained', '-f', userKey]);
    const sshd = await startSshd({
      authorizedKeys: [...backend.authorizedKeyLines(), fs.readFileSync(userKey + '.pub', 'utf8').trim()],
      hostKeyType: type,
      hostCertificate: { caKeyPath: caKey, principals: ['127.0.0.1', 'cert-host.test'] },
    });
    try {
      // The client trusts the CA, as an admin would set it up (sshd(8) @cert-authority).
      const knownHosts = path.join(dir, 'known_hosts');
      fs.writeFileSync(knownHosts, `@cert-authority * ${fs.readFileSync(caKey + '.pub', 'utf8').trim()}\n`);
      const args = (id: string) => [...sshArgs(sshd.port, socket, dir), '-o', `IdentityFile=${id}`, '-o', 'IdentitiesOnly=yes', `${user}@127.0.0.1`];
      fs.writeFileSync(path.join(dir, 'latch.pub'), backend.authorizedKeyLines()[0] + '\n');
      const r = await run('ssh', [...args(path.join(dir, 'latch.pub')), 'echo cert-ok'], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'cert-ok');
      assert.doesNotMatch(r.stderr, /invalid format/);
      assert.ok(!logs.some((l) => /malformed session-bind|does not verify/.test(l)), logs.join('\n'));
      const sign = backend.seen.find((s) => s.kind === 'sign')!;
      assert.ok(sign.ctx.binds.length >= 1);
      assert.ok(bytesEqual(sign.ctx.binds[0]!.hostKeyBlob, certBlob(sshd.hostCertificate!)), 'ssh bound the certificate');
      assert.equal(sign.parsed?.kind, 'userauth');
      if (sign.parsed?.kind === 'userauth') assert.equal(hostVerification(sign.parsed.userauth, sign.ctx.binds).verified, true);
      const host = parseHostKey(certBlob(sshd.hostCertificate!));
      assert.ok(bytesEqual(host.keyBlob, parseAuthorizedKeyLine(sshd.hostPublicKey).blob), 'the certified key is the host key');
      assert.deepEqual(host.cert?.principals, ['127.0.0.1', 'cert-host.test']);

      // An upstream key restricted to hosts certified by the CA (ssh-add -h, OpenSSH agent-restrict.sh):
      // the upstream agent sees the bind only if Latch accepted and forwarded it.
      const add = await run('ssh-add', ['-H', knownHosts, '-h', '127.0.0.1', userKey], { env: { ...process.env, SSH_AUTH_SOCK: upSocket } });
      assert.equal(add.code, 0, add.stderr);
      const viaUp = await run('ssh', [...args(userKey + '.pub'), 'echo constrained-ok'], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      assert.equal(viaUp.code, 0, viaUp.stderr);
      assert.equal(viaUp.stdout.trim(), 'constrained-ok');
    } finally {
      await agent.close();
      await sshd.stop();
      await upstream.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the authenticator shows the CA and principals of a host certificate and pins the certified key', async () => {
  const env = await setupLatchSsh({ deviceArgs: ['--auto-approve'] });
  const sshd = await startSshd({ authorizedKeys: env.keys, hostCertificate: { caKeyPath: caKey, principals: ['127.0.0.1'] } });
  try {
    const dir = tempDir('latch-hc-full-');
    const config = path.join(dir, 'config');
    fs.writeFileSync(config, latchBlock({ agentSocket: env.agentSocket, node: process.execPath, cli: LATCH_CLI, hint: true }));
    const knownHosts = path.join(dir, 'known_hosts');
    fs.writeFileSync(knownHosts, `@cert-authority * ${fs.readFileSync(caKey + '.pub', 'utf8').trim()}\n`);
    const from = env.device.stderr().length;
    const r = await run('ssh', ['-F', config, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-p', String(sshd.port), `${user}@127.0.0.1`, 'echo full-ok'], {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'full-ok');
    const caFp = sshFingerprint(parseAuthorizedKeyLine(fs.readFileSync(caKey + '.pub', 'utf8').trim()).blob);
    const hostFp = sshFingerprint(parseAuthorizedKeyLine(sshd.hostPublicKey).blob);
    const log = env.device.stderr().slice(from);
    assert.match(log, new RegExp(`SSH login as ${user}@\\[127\\.0\\.0\\.1\\]:${sshd.port}`));
    assert.match(log, new RegExp(`host key ${hostFp.replace(/[+/]/g, '\\$&')}: VERIFIED`));
    assert.ok(log.includes(`host certificate signed by CA ${caFp}, principals 127.0.0.1, valid `), log);
    assert.ok(log.includes(`pinned host key of [127.0.0.1]:${sshd.port}: ${hostFp}`), log);
    const hosts = await latchRun(['device', 'host', 'list'], { home: env.phone });
    assert.ok(hosts.stdout.includes(hostFp), hosts.stdout);
    assert.doesNotMatch(env.agent.stderr(), /refused a malformed host hint|malformed session-bind/);
    fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    await sshd.stop();
    await env.stop();
  }
});
