/**
 * Unpairing from either side, with real processes: `latch unpair` on the computer,
 * `latch device computer remove` on the authenticator, and `latch pair` replacing a pairing
 * (the old authenticator is told to forget it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latch, latchRun, newAuthenticator, pairComputer, sharedLatchServer } from './helpers/latch-process.js';

const server = sharedLatchServer;
async function computers(phone: string): Promise<string[]> {
  const r = await latchRun(['device', 'computer', 'list', '--json'], { home: phone });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).computers as { name: string }[]).map((c) => c.name);
}

test('latch unpair: the running authenticator forgets the computer, the computer forgets it; again is a no-op', async () => {
  const s = await server();
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(s, phone);
  assert.equal((await computers(phone)).length, 1);
  const run = latch(['device', 'run'], { home: phone });
  await run.waitFor(/ready: waiting for requests from 1 paired computer/);
  const r = await latchRun(['unpair', '--json'], { home: computer });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { unpaired: true, was_paired: true, device: 'phone', authenticator_answered: true });
  await run.waitFor(/unpaired from /);
  run.kill();
  await run.exited;
  assert.deepEqual(await computers(phone), []);
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.deepEqual(JSON.parse(st.stdout), { paired: false });
  const again = await latchRun(['unpair'], { home: computer });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^Not paired; nothing to do\.$/m);
});

test('latch unpair with the authenticator offline: unpaired here, applied when the authenticator next runs', async () => {
  const s = await server();
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(s, phone);
  const r = await latchRun(['unpair', '--timeout', '1'], { home: computer });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Unpaired here\. "phone" did not answer .*within 1 s/);
  assert.match(r.stdout, /latch device computer remove NAME/);
  const run = latch(['device', 'run'], { home: phone });
  await run.waitFor(/unpaired from /);
  run.kill();
  await run.exited;
  assert.deepEqual(await computers(phone), []);
});

test('latch device computer remove: the computer\'s next request is refused at once with a clear error', async () => {
  const s = await server();
  const phone = await newAuthenticator('phone');
  const computer = await pairComputer(s, phone);
  const list = await latchRun(['device', 'computer', 'list', '--json'], { home: phone });
  const [c] = JSON.parse(list.stdout).computers;
  const bad = await latchRun(['device', 'computer', 'remove', 'no-such-computer'], { home: phone });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no paired computer "no-such-computer".*\[no_such_computer\]/);
  const rm = await latchRun(['device', 'computer', 'remove', c.name], { home: phone });
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stderr, /Removed ".*": its pairing keys and timed approvals are gone/);
  assert.deepEqual(await computers(phone), []);
  const st = await latchRun(['status', '--json'], { home: computer });
  const json = JSON.parse(st.stdout);
  assert.equal(json.device.reachable, false);
  // The authenticator's refusal, not "did not answer within 5 s": refused at once, not at the
  // deadline. No clock in this check (issue 12 §9).
  assert.match(json.device.problem, /"phone" removed this computer; pair again with `latch pair`/);
});

test('latch pair over an existing pairing tells the old authenticator to forget it', async () => {
  const s = await server();
  const oldPhone = await newAuthenticator('old phone');
  const newPhone = await newAuthenticator('new phone');
  const computer = await pairComputer(s, oldPhone);
  const run = latch(['device', 'run'], { home: oldPhone });
  await run.waitFor(/ready: waiting for requests from 1 paired computer/);
  const pair = latch(['pair', '--server', s.url, '--uri-only', '--timeout', '30'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\/\/pair\?\S+/m, 'stdout');
  const dev = await latchRun(['device', 'pair', link!], { home: newPhone });
  assert.equal(dev.code, 0, dev.stderr);
  assert.equal((await pair.exited).code, 0, pair.stderr());
  assert.match(pair.stderr(), /Note: this replaces the pairing with "old phone"/);
  assert.match(pair.stderr(), /"old phone" forgot the pairing this one replaces\./);
  await run.waitFor(/unpaired from /);
  run.kill();
  await run.exited;
  assert.deepEqual(await computers(oldPhone), []);
  assert.equal((await computers(newPhone)).length, 1);
});
