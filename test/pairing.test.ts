/**
 * Issue 2 end to end: `latch server`, `latch pair`, `latch device pair|run` and `latch status`
 * as real processes over loopback.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer, newAuthenticator, pairComputer, tempDir, type LatchServer } from './helpers/latch-process.js';

const servers: LatchServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
});
async function server(opts: Parameters<typeof startLatchServer>[0] = {}): Promise<LatchServer> {
  const s = await startLatchServer(opts);
  servers.push(s);
  return s;
}

test('pair by link, same check code on both sides, status shows the device and its SSH key', async () => {
  const srv = await server();
  const phone = await newAuthenticator("Ada's phone");
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '30', '--name', 'laptop'], { home: computer });
  const [, link] = await pair.waitFor(/^(.*)\n/, 'stdout');
  assert.match(link!, /^latch:\/\/pair\?v=1&pk=[A-Za-z0-9_-]{43}&q=[A-Za-z0-9_-]{22}&n=laptop&r=http%3A%2F%2F127\.0\.0\.1%3A\d+$/);

  const dev = await latchRun(['device', 'pair', link!], { home: phone });
  assert.equal(dev.code, 0, dev.stderr);
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const phoneCode = /Check code: (\d{3}-\d{3})/.exec(dev.stderr)?.[1];
  const computerCode = /Check code: (\d{3}-\d{3})/.exec(pair.stderr())?.[1];
  assert.ok(phoneCode);
  assert.equal(computerCode, phoneCode);
  assert.equal(pair.stdout().trim(), link, '--uri-only prints the link alone');
  assert.match(dev.stdout, /Paired with "laptop"/);

  // The link carries no secret: the computer's stored secret key is not in it.
  const stored = JSON.parse(readFileSync(join(computer, 'computer.json'), 'utf8'));
  assert.ok(!link!.includes(stored.pairing.computerSecretKey));
  assert.ok(!link!.includes(stored.pairing.queueSecretKey));
  assert.equal(statSync(join(computer, 'computer.json')).mode & 0o777, 0o600);
  // The keystore is encrypted: no key material or names in the clear.
  // Looked for in the decoded bytes, not the base64url text: "Ada" turns up in ~4 KB of random
  // base64 about once in 60 runs (a local run failed so); a whole name of 6 or more bytes in ~3 KB
  // of ciphertext, about once in 10^11.
  const ks = JSON.parse(readFileSync(join(phone, 'authenticator', 'keystore.json'), 'utf8')) as { ciphertext: string };
  const sealed = Buffer.from(ks.ciphertext, 'base64url');
  const clear = JSON.stringify({ ...ks, ciphertext: undefined });
  for (const secret of ['ssh-ed25519', "Ada's phone", 'laptop']) {
    assert.ok(!sealed.includes(secret) && !clear.includes(secret), secret);
  }
  assert.ok(!sealed.includes(Buffer.from(stored.pairing.authenticatorPublicKey, 'base64url')) && !clear.includes(stored.pairing.authenticatorPublicKey));

  // Unreachable: no `device run` yet.
  const offline = await latchRun(['status', '--json'], { home: computer });
  assert.equal(offline.code, 0, offline.stderr);
  const o = JSON.parse(offline.stdout);
  assert.equal(o.device.name, "Ada's phone");
  assert.equal(o.device.reachable, false);

  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  await run.waitFor(/ready: waiting for requests from 1 paired computer/);
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.equal(st.code, 0, st.stderr);
  const s = JSON.parse(st.stdout);
  assert.equal(s.paired, true);
  assert.equal(s.device.name, "Ada's phone");
  assert.equal(s.device.reachable, true);
  assert.match(s.device.ssh_public_key, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} \S+$/);
  assert.equal(s.device.ssh_keys[0].public_key, s.device.ssh_public_key);
  assert.ok(typeof s.device.last_seen === 'number');
  run.kill();
  await run.exited;
});

test('without --uri-only, pair draws a QR code', async () => {
  const srv = await server();
  const pair = latch(['pair', '--server', srv.url, '--timeout', '1'], { home: tempDir('computer') });
  const { code } = await pair.exited;
  assert.match(pair.stdout(), /[▀▄█]/);
  assert.match(pair.stdout(), /^latch:\/\/pair\?/m);
  assert.equal(code, 1);
  assert.match(pair.stderr(), /no authenticator answered within 1 s.*\[pairing_timeout\]/s);
});

test('kill -9 of the relay in the middle of pairing loses nothing', async () => {
  const srv = await server();
  const phone = await newAuthenticator('phone');
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '60'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  await pair.waitFor(/Waiting up to/);
  // Freeze the computer so the authenticator's sealed offer (step 2) sits on the relay.
  pair.kill('SIGSTOP');
  const dev = latch(['device', 'pair', link!, '--timeout', '60'], { home: phone });
  await dev.waitFor(/Check code/);
  await new Promise((r) => setTimeout(r, 500)); // let the offer be accepted (201) by the relay
  await srv.kill9();
  const again = await server({ dataDir: srv.dataDir, port: srv.port });
  assert.equal(again.port, srv.port);
  pair.kill('SIGCONT');
  // Both sides' output on failure: which side stopped waiting says where the offer or hello went.
  const [d, p] = await Promise.all([dev.exited, pair.exited]);
  const both = `authenticator:\n${dev.stderr()}\ncomputer:\n${pair.stderr()}`;
  assert.equal(d.code, 0, both);
  assert.equal(p.code, 0, both);
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.equal(JSON.parse(st.stdout).device.name, 'phone');
});

test('a second authenticator racing step 2 loses and says so; a third finds the link used', async () => {
  const srv = await server();
  const [a, b, c] = await Promise.all([newAuthenticator('first'), newAuthenticator('second'), newAuthenticator('third')]);
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '60'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  await pair.waitFor(/Waiting up to/);
  pair.kill('SIGSTOP');
  const first = latch(['device', 'pair', link!], { home: a });
  await first.waitFor(/Check code/);
  await new Promise((r) => setTimeout(r, 300));
  const second = latch(['device', 'pair', link!], { home: b });
  await second.waitFor(/Check code/);
  await new Promise((r) => setTimeout(r, 300));
  pair.kill('SIGCONT');
  assert.equal((await first.exited).code, 0, first.stderr());
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const lost = await second.exited;
  assert.equal(lost.code, 1);
  assert.match(second.stderr(), /another authenticator already paired with this link.*\[pairing_taken\]/s);
  const third = await latchRun(['device', 'pair', link!], { home: c });
  assert.equal(third.code, 1);
  assert.match(third.stderr, /\[pairing_taken\]/);
  const st = JSON.parse((await latchRun(['status', '--json'], { home: computer })).stdout);
  assert.equal(st.device.name, 'first');
});

test('bad links, bad QR payloads and unknown versions get clear errors before any passphrase or network use', async () => {
  const phone = await newAuthenticator('phone');
  const valid = 'latch://pair?v=1&pk=hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo&q=q7X4eaAw-z2Ctyzmk5E1OA&n=laptop&r=http%3A%2F%2F127.0.0.1%3A9';
  const cases: [string, RegExp][] = [
    ['hello world', /not a Latch pairing link.*\[bad_pairing_link\]/s],
    ['WIFI:S:home;T:WPA;P:secret;;', /not a Latch pairing link.*\[bad_pairing_link\]/s], // a QR code of something else
    [valid.replace('v=1', 'v=7'), /protocol version 7; this Latch speaks version 1.*\[unsupported_version\]/s],
    [valid.replace(/&q=[^&]+/, ''), /missing the field "q".*\[bad_pairing_link\]/s],
    [valid + '&secret=1', /unknown field "secret".*\[bad_pairing_link\]/s],
    [valid.replace(/pk=[^&]+/, 'pk=AAAA'), /key is malformed.*\[bad_pairing_link\]/s],
    [valid.replace(/r=[^&]+/, 'r=javascript%3Aalert(1)'), /relay URL must use http or https.*\[bad_pairing_link\]/s],
  ];
  for (const [link, re] of cases) {
    const r = await latchRun(['device', 'pair', link], { home: phone, env: { LATCH_PASSPHRASE: '' } });
    assert.equal(r.code, 1, link);
    assert.match(r.stderr, re, link);
  }
  const usage = await latchRun(['device', 'pair'], { home: phone });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing the pairing link.*usage: latch device pair/s);
  const flag = await latchRun(['pair', '--timeout', 'soon'], { home: tempDir('c') });
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--timeout must be a whole number of seconds/);
  const unknown = await latchRun(['pair', '--frobnicate'], { home: tempDir('c') });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown option '--frobnicate'/);
});

test('wrong passphrase and missing relay are reported plainly', async () => {
  const phone = await newAuthenticator('phone');
  const srv = await server();
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '5'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  const wrong = await latchRun(['device', 'pair', link!], { home: phone, env: { LATCH_PASSPHRASE: 'not it' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong passphrase.*\[bad_passphrase\]/s);
  pair.kill();
  const none = await latchRun(['pair', '--server', 'http://127.0.0.1:9', '--uri-only'], { home: computer });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /cannot reach the relay at http:\/\/127\.0\.0\.1:9.*\[relay_unreachable\]/s);
  const notPaired = await latchRun(['status', '--json'], { home: tempDir('c') });
  assert.equal(notPaired.code, 1);
  assert.deepEqual(JSON.parse(notPaired.stdout), { paired: false });
});

test('pairing twice with the same computer home replaces the old pairing', async () => {
  const srv = await server();
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(srv, phone);
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '20'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  await pair.waitFor(/replaces the pairing with "phone"/);
  const other = await newAuthenticator('tablet');
  assert.equal((await latchRun(['device', 'pair', link!], { home: other })).code, 0);
  assert.equal((await pair.exited).code, 0);
  assert.equal(JSON.parse(readFileSync(join(computer, 'computer.json'), 'utf8')).pairing.deviceName, 'tablet');
});
