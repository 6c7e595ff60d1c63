/**
 * Issue 12 item 8: with this computer's clock 20 minutes off, the relay refuses its proofs with
 * the one undifferentiated 401, and `latch status` used to blame the authenticator. Every relay
 * response carries a Date header; `latch status` and `latch doctor` compare and say "this
 * computer's clock is N minutes off", keeping their exit codes. The clock is shifted with
 * Debian's libfaketime (LD_PRELOAD, installed by .ci/run), for the computer's processes only.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { latchRun, newAuthenticator, pairComputer, startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { latchInteractive, type Watched } from './helpers/latch-ssh-env.js';

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find((p) => fs.existsSync(p));
const skip = LIBFAKETIME ? false : 'libfaketime is not installed (apt-get install faketime)';
/** This computer's clock 20 minutes ahead (monotonic timers left alone). */
const AHEAD_20_MIN = { LD_PRELOAD: LIBFAKETIME ?? '', FAKETIME: '+20m', DONT_FAKE_MONOTONIC: '1' };

let server: LatchServer;
let device: Watched;
let computer: string;

before(async () => {
  if (skip) return;
  server = await startLatchServer();
  const phone = await newAuthenticator('clock phone');
  computer = await pairComputer(server, phone);
  device = latchInteractive(['device', 'run', '--auto-approve'], phone);
  await device.waitFor(/ready: waiting for requests from 1 paired computer/);
});
after(async () => {
  await device?.stop();
  await server?.stop();
});

test('every relay response carries a Date header, the 401 for a bad proof included', { skip }, async () => {
  const health = await fetch(`${server.url}/v1/health`);
  assert.ok(health.headers.get('date'));
  const refused = await fetch(`${server.url}/v1/queues/AAAAAAAAAAAAAAAAAAAAAA/messages`, { headers: { 'Latch-Auth': 'v1 x 1 y' } });
  assert.equal(refused.status, 401);
  assert.ok(refused.headers.get('date'));
});

test('latch status: with a right clock the authenticator is reachable; 20 minutes ahead it says so, exit 0 as documented', { skip }, async () => {
  const ok = await latchRun(['status'], { home: computer });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Reachable now\./);

  const off = await latchRun(['status'], { home: computer, env: AHEAD_20_MIN });
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /Not reachable now: this computer's clock is 20 minutes off \(ahead of the relay's\)\. Set the clock/);
  assert.doesNotMatch(off.stdout, /latch device run/);

  const json = await latchRun(['status', '--json'], { home: computer, env: AHEAD_20_MIN });
  const device = (JSON.parse(json.stdout) as { device: { reachable: boolean; clock_offset_seconds?: number } }).device;
  assert.equal(device.reachable, false);
  assert.ok(device.clock_offset_seconds !== undefined && Math.abs(device.clock_offset_seconds + 1200) <= 5, String(device.clock_offset_seconds));
});

test('latch doctor: 20 minutes ahead it names the clock, not the authenticator, and exits 1', { skip }, async () => {
  const r = await latchRun(['doctor', '--agent', '/nonexistent/agent.sock'], { home: computer, env: AHEAD_20_MIN });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /PROBLEM clock: this computer's clock is 20 minutes off \(ahead of the relay's\)\n\s+fix: set this computer's clock/);
  assert.match(r.stderr, /PROBLEM authenticator: .*\n\s+fix: first fix the clock: this computer's clock is 20 minutes off/);
  assert.doesNotMatch(r.stderr, /open Latch on your authenticator/);
});
