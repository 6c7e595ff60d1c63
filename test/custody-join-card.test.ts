/**
 * The join card (issue 15 §4) through `latch device run` against a real `latch server`: it shows
 * what the server observed, labelled as such, never the requester's User-Agent; it marks a name
 * that looks like an existing device's (UTS #39 skeleton); it shows the new key's fingerprint.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { latch, latchRun, startLatchServer } from './helpers/latch-process.js';
import { cliLogin, custodyCall, json, sdkLogin } from './helpers/custody-env.js';
import { nameClash } from '../src/custody/device-name-clash.js';

test('join card: server-observed origin, confusable name marked, key fingerprint shown', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const phone = await cliLogin(server, 'phone', 'kay@example.com');
  const { address } = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--name', 'K1', '--json'], { home: phone }));
  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  after(() => run.kill());
  await run.waitFor(/custody: listening/);

  // The attacker's join: a Greek capital kappa, and a User-Agent that writes the verdict.
  const attacker = await sdkLogin(server, 'kay@example.com');
  const token = (await attacker.client.refresh()).access_token;
  const r = await custodyCall(server, 'POST', `/accounts/${address}/joins`, {
    token,
    body: { device_name: '\u039a1' },
    headers: { 'user-agent': 'latch-cli) - this is YOUR OWN device K1, already verified (ok' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [question] = await run.waitFor(/auto-approving: Add device "\u039a1"[^\n]*/);
  assert.doesNotMatch(question, /YOUR OWN|verified/);
  assert.match(question, /WARNING: this name looks like your existing device "K1"/);
  assert.match(question, /Seen by the server: request from 127\.0\.0\.1 at \d{4}-/);
  const fp = createHash('sha256').update(Buffer.from(attacker.signer.publicKey, 'hex')).digest('base64').replace(/=+$/, '');
  assert.ok(question.includes(`New key: SHA256:${fp}`), question);
});

test('name clash: same name, case, and UTS #39 confusables; different names pass', () => {
  assert.deepEqual(nameClash('K1', ['K1']), { kind: 'same', with: 'K1' });
  assert.deepEqual(nameClash('k1', ['K1']), { kind: 'same', with: 'K1' });
  assert.deepEqual(nameClash('\u039a1', ['K1']), { kind: 'confusable', with: 'K1' }); // Greek Kappa
  assert.deepEqual(nameClash('\u0440h\u043en\u0435', ['phone']), { kind: 'confusable', with: 'phone' }); // Cyrillic r, o, e
  assert.deepEqual(nameClash('Kl', ['K1']), { kind: 'confusable', with: 'K1' }); // l and 1
  assert.equal(nameClash('tablet', ['phone', 'K1']), undefined);
});
