/**
 * `latch browser host` as the browser runs it (a real process, framed JSON on stdin/stdout):
 * malformed native messages get an error and the host keeps serving; an unpaired computer is
 * told to fall back; `latch browser install` writes the manifest Chromium reads and --undo
 * removes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LATCH_CLI, latchRun, tempDir } from './helpers/latch-process.js';
import { encodeNativeMessage, NativeMessageReader } from '../src/browser/native-message-reader.js';

function startHost(home: string) {
  const child = spawn(process.execPath, [LATCH_CLI, 'browser', 'host', 'chrome-extension://x/'], { env: { ...process.env, LATCH_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  const reader = new NativeMessageReader();
  const answers: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (c: Buffer) => {
    for (const f of reader.push(c)) if (f.ok) answers.push(f.value as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    while (answers.length === 0) await new Promise<void>((r) => waiters.push(r));
    return answers.shift()!;
  };
  return { child, next, write: (b: Uint8Array) => child.stdin.write(b) };
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

test('malformed native messages get an error and the host keeps serving; unpaired means fall back', async () => {
  const h = startHost(tempDir('host'));
  try {
    h.write(new Uint8Array([...u32(9), ...new TextEncoder().encode('{not json')]));
    assert.deepEqual(pick(await h.next()), { type: 'error', code: 'bad_native_message', id: null });
    h.write(u32(0));
    assert.deepEqual(pick(await h.next()), { type: 'error', code: 'bad_native_message', id: null });
    // Over 1 MiB: refused, and its bytes skipped, so the next frame is read in step.
    h.write(u32(2 * 1024 * 1024));
    h.write(new Uint8Array(2 * 1024 * 1024).fill(0x7b));
    assert.deepEqual(pick(await h.next()), { type: 'error', code: 'message_too_large', id: null });
    h.write(encodeNativeMessage({ v: 1, id: 'a1', op: 'fly' }));
    assert.deepEqual(pick(await h.next()), { type: 'error', code: 'bad_native_message', id: 'a1' });
    const options = { challenge: Buffer.alloc(32, 1).toString('base64url') };
    h.write(encodeNativeMessage({ v: 1, id: 'g1', op: 'get', origin: 'http://localhost:8080', cross_origin: false, options }));
    const a = await h.next();
    assert.deepEqual(pick(a), { type: 'error', code: 'not_paired', id: 'g1' });
    assert.equal(a.fallback, true);
    assert.equal(a.name, 'NotAllowedError');
  } finally {
    h.child.stdin.end();
  }
  const code = await new Promise((r) => h.child.once('exit', r));
  assert.equal(code, 0);
});

function pick(a: Record<string, unknown>): Record<string, unknown> {
  return { type: a.type, code: a.code, id: a.id };
}

test('latch browser install --user-data-dir writes the host manifest naming the shipped extension; --undo removes it', async () => {
  const home = tempDir('install');
  const udd = tempDir('udd');
  const r = await latchRun(['browser', 'install', '--user-data-dir', udd, '--yes'], { home });
  assert.equal(r.code, 0, r.stderr);
  const id = /^extension id: ([a-p]{32})$/m.exec(r.stdout)![1]!;
  const manifestPath = join(udd, 'NativeMessagingHosts', 'dev.latch.browser.json');
  const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
  assert.deepEqual(m.allowed_origins, [`chrome-extension://${id}/`]);
  assert.equal(m.type, 'stdio');
  assert.match(readFileSync(m.path, 'utf8'), /browser host/);
  const noTty = await latchRun(['browser', 'install', '--user-data-dir', udd], { home });
  assert.notEqual(noTty.code, 0);
  assert.match(noTty.stderr, /confirmation_required/);
  const undo = await latchRun(['browser', 'install', '--user-data-dir', udd, '--undo', '--yes'], { home });
  assert.equal(undo.code, 0, undo.stderr);
  assert.equal(existsSync(manifestPath), false);
});
