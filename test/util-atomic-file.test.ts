import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/util/atomic-file.js';

test('writeFileAtomic replaces the file and leaves no temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-atomic-'));
  try {
    const path = join(dir, 'state.json');
    writeFileAtomic(path, 'one');
    writeFileAtomic(path, new TextEncoder().encode('two'));
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed write removes the temp file and keeps the old content', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-atomic-'));
  try {
    const path = join(dir, 'state.json');
    writeFileSync(path, 'old');
    // Data writeSync refuses: the write step throws after the temp file was created, as ENOSPC or EIO would.
    assert.throws(() => writeFileAtomic(path, 42 as unknown as Uint8Array));
    assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file left behind');
    assert.equal(readFileSync(path, 'utf8'), 'old');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
