/**
 * Issue 17, the small things a newcomer meets first: `latch --help` names what the server
 * runs today and ends its last line; `latch doctor` exits 1 when it prints a PROBLEM line
 * (the all-ok side, exit 0, is in ssh-setup.test.ts where a full setup exists).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latchRun, tempDir } from './helpers/latch-process.js';

test('latch --help: current summary of `server`, and the output ends with a newline', async () => {
  for (const args of [['--help'], ['help'], []]) {
    const r = await latchRun(args);
    assert.equal(r.code, args.length === 0 ? 2 : 0, args.join(' '));
    assert.ok(r.stdout.endsWith('\n'), `latch ${args.join(' ')}: the last line ends with a newline`);
    assert.match(r.stdout, /^ {2}server +run the server: relay, custody and the web authenticator \(\/app\/\)$/m);
    assert.doesNotMatch(r.stdout, /later/);
  }
  const server = await latchRun(['server', '--help']);
  assert.ok(server.stdout.endsWith('\n'));
  assert.match(server.stdout, /--public-url URL\] \[--tls-cert FILE --tls-key FILE\]/);
});

test('latch doctor exits 1 when it reports a PROBLEM (text and --json), output unchanged', async () => {
  const home = tempDir('doctor');
  const env = { HOME: home, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', SSH_AUTH_SOCK: '' };
  const text = await latchRun(['doctor'], { home, env });
  assert.equal(text.code, 1);
  assert.equal(text.stdout, '');
  assert.match(text.stderr, /^PROBLEM pairing: this computer is not paired\n {8}fix: run `latch pair`/m);
  assert.match(text.stderr, /^ok {6}openssh: /m);
  const json = await latchRun(['doctor', '--json'], { home, env });
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
  assert.equal(report.ok, false);
  assert.deepEqual(report.checks.find((c) => c.name === 'pairing'), { name: 'pairing', ok: false, detail: 'this computer is not paired', fix: 'run `latch pair` and scan the code with your authenticator' });
});

test('an option value that begins with "-" gets a usage error that says to write OPTION=VALUE, and that form is taken', async () => {
  const home = tempDir('dashed-value');
  // Recovery ids stored before newId() redrew a leading "-" (test/custody-new-id.test.ts) can begin with one.
  const dashed = '-Xq9' + 'A'.repeat(18);
  const spaced = await latchRun(['account', 'recover', '--cancel', dashed, '--server', 'http://127.0.0.1:9'], { home });
  assert.equal(spaced.code, 2, spaced.stderr);
  assert.match(spaced.stderr, /--cancel needs a value; a value that begins with "-" is written --cancel=VALUE\nusage: latch account recover /);
  const forgotten = await latchRun(['account', 'recover', '--cancel', '--json'], { home });
  assert.equal(forgotten.code, 2, forgotten.stderr);
  assert.match(forgotten.stderr, /--cancel needs a value/);
  // With "=", the value is parsed and the command goes on to what it needs next (a login).
  const joined = await latchRun(['account', 'recover', `--cancel=${dashed}`, '--server', 'http://127.0.0.1:9'], { home });
  assert.notEqual(joined.code, 0);
  assert.notEqual(joined.code, 2, joined.stderr);
  assert.doesNotMatch(joined.stderr, /usage:/);
});
