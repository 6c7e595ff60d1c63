/**
 * Issue 17: `latch server --tls-cert/--tls-key` serves HTTPS and WSS itself; the web
 * authenticator pairs through it in Chromium; SIGHUP swaps the certificate without a restart
 * (and keeps the old one when the new files are not a pair); the CLI trusts a private CA
 * through NODE_EXTRA_CA_CERTS. `--public-url` puts the reachable URL into pairing links, and
 * `latch pair` warns when a link names a loopback relay.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { latch, latchRun, newAuthenticator, startLatchServer, sharedLatchServer, tempDir, type LatchProcess, type LatchServer } from './helpers/latch-process.js';
import { CHROMIUM_SKIP } from './helpers/web-browser.js';
import { issueTestCert, makeTestCa, type TestCa } from './helpers/test-tls.js';
import { pairWebOverHttps } from './helpers/web-pair-https.js';
import { freePort } from './helpers/sshd.js';

const servers: LatchServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
});

/** The SHA-256 fingerprint of the certificate a fresh TLS connection to `port` is served. */
function servedFingerprint(port: number, ca: TestCa): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca.certFile) }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

/** Resolves when `re` matches what `proc` wrote to stderr after offset `from`. */
function stderrAfter(proc: LatchProcess, from: number, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (!re.test(proc.stderr().slice(from))) return false;
      proc.child.stderr!.off('data', check);
      resolve();
      return true;
    };
    if (check()) return;
    proc.child.stderr!.on('data', check);
    void proc.exited.then(() => reject(new Error(`server exited before ${re}: ${proc.stderr().slice(from)}`)));
  });
}

test('HTTPS: the web authenticator pairs over HTTPS/WSS in Chromium; SIGHUP swaps the certificate; a bad pair is refused and the old one kept', { skip: CHROMIUM_SKIP }, async () => {
  const ca = makeTestCa(tempDir('tls'));
  const first = issueTestCert(ca, 'first');
  const second = issueTestCert(ca, 'second');
  // The files the server is told about; a renewal rewrites them in place.
  const certFile = `${ca.dir}/live.crt`;
  const keyFile = `${ca.dir}/live.key`;
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const server = await startLatchServer({ args: ['--tls-cert', certFile, '--tls-key', keyFile] });
  servers.push(server);
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  await server.proc.waitFor(new RegExp(`TLS certificate SHA-256 ${first.fingerprint256}`));
  assert.equal(await servedFingerprint(server.port, ca), first.fingerprint256);

  // Without the CA, the CLI refuses the relay and says how to trust a private CA.
  const untrusted = await latchRun(['pair', '--server', server.url, '--uri-only', '--timeout', '5'], { home: tempDir('untrusted') });
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /cannot reach the relay at https:.*NODE_EXTRA_CA_CERTS.*\[relay_unreachable\]/);

  const web = await pairWebOverHttps(server.url, ca.certFile);
  assert.equal(await web.reachable(), true, 'the page answers `me` through the HTTPS relay');

  // Renewal: new files in place, SIGHUP, new connections get the new certificate; same process.
  copyFileSync(second.certFile, certFile);
  copyFileSync(second.keyFile, keyFile);
  let from = server.proc.stderr().length;
  server.proc.kill('SIGHUP');
  await stderrAfter(server.proc, from, new RegExp(`SIGHUP: now serving TLS certificate SHA-256 ${second.fingerprint256}`));
  assert.equal(await servedFingerprint(server.port, ca), second.fingerprint256);
  assert.equal(server.proc.child.exitCode, null, 'no restart');
  assert.equal(await web.reachable(), true, 'the page still answers after the swap');

  // A half-done renewal (key of another certificate): refused, the served certificate stays.
  copyFileSync(first.keyFile, keyFile);
  from = server.proc.stderr().length;
  server.proc.kill('SIGHUP');
  await stderrAfter(server.proc, from, /SIGHUP: kept the old TLS certificate: .*\[tls_bad_key\]/);
  assert.equal(await servedFingerprint(server.port, ca), second.fingerprint256);
  await web.close();
});

test('--tls-cert without --tls-key, or a key that does not match, is a clear error at start', async () => {
  const ca = makeTestCa(tempDir('tls-bad'));
  const a = issueTestCert(ca, 'a');
  const b = issueTestCert(ca, 'b');
  const alone = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', tempDir('srv'), '--tls-cert', a.certFile]);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--tls-cert and --tls-key go together/);
  const mismatch = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', tempDir('srv'), '--tls-cert', a.certFile, '--tls-key', b.keyFile]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /is not the private key of the certificate .*\[tls_bad_key\]/);
  assert.doesNotMatch(mismatch.stderr, /PRIVATE KEY/);
});

test('--public-url: the authenticator uses the link\'s URL, the computer keeps the one it was given', async () => {
  // Two routes to one server: the computer reaches 127.0.0.1, the link names localhost.
  const port = await freePort();
  const routed = await startLatchServer({ port, args: ['--public-url', `http://localhost:${port}`] });
  servers.push(routed);
  const phone = await newAuthenticator('route phone');
  const computer = tempDir('route-computer');
  const pair = latch(['pair', '--server', routed.url, '--uri-only', '--timeout', '30'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\/\/pair\?\S+/m, 'stdout');
  assert.match(link, new RegExp(`&r=http%3A%2F%2Flocalhost%3A${routed.port}$`));
  const dev = await latchRun(['device', 'pair', link], { home: phone });
  assert.equal(dev.code, 0, dev.stderr);
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.equal(st.code, 0, st.stderr);
  assert.equal((JSON.parse(st.stdout) as { relay: string }).relay, routed.url);
});

test('--public-url: the pairing link carries it and /v1/health names it; a loopback link gets a warning', async () => {
  const server = await startLatchServer({ args: ['--public-url', 'https://relay.example.com/'] });
  servers.push(server);
  const health = (await (await fetch(`${server.url}/v1/health`)).json()) as { public_url?: string };
  assert.equal(health.public_url, 'https://relay.example.com');

  const viaPublic = await latchRun(['pair', '--server', server.url, '--uri-only', '--timeout', '1'], { home: tempDir('pub') });
  assert.match(viaPublic.stdout, /^latch:\/\/pair\?\S*&r=https%3A%2F%2Frelay\.example\.com$/m);
  assert.doesNotMatch(viaPublic.stderr, /Warning: the link names the relay/);
  assert.match(viaPublic.stderr, /\[pairing_timeout\]/, 'nobody scanned; it waited on the relay it was given');

  const loopback = await latchRun(['pair', '--server', (await sharedLatchServer()).url, '--uri-only', '--timeout', '1'], { home: tempDir('loop') });
  assert.match(loopback.stdout, /&r=http%3A%2F%2F127\.0\.0\.1%3A\d+$/m);
  assert.match(loopback.stderr, /Warning: the link names the relay as http:\/\/127\.0\.0\.1:\d+, which only this computer reaches: a phone cannot use it\./);

  const bad = await latchRun(['server', '--listen', '127.0.0.1:0', '--data', tempDir('srv'), '--public-url', 'ftp://x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--public-url: relay URL must use http or https/);
});
