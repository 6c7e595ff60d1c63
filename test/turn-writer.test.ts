/** TurnWriter (src/util/turn-writer.ts): one write per event-loop turn, nothing lost at exit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TurnWriter } from '../src/util/turn-writer.js';

const MODULE = fileURLToPath(new URL('../src/util/turn-writer.js', import.meta.url));
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

test("the text of one turn, written across its promise jobs, leaves in one write, in order; a later turn's in another", async () => {
  const writes: string[] = [];
  const w = new TurnWriter((t) => writes.push(t));
  try {
    w.write('a\n');
    await Promise.resolve();
    w.write('b\n');
    queueMicrotask(() => w.write('c\n'));
    assert.deepEqual(writes, [], 'held until the turn ends');
    await nextTurn();
    assert.deepEqual(writes, ['a\nb\nc\n']);
    w.write('d\n');
    await nextTurn();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n']);
    w.write('e\n');
    w.flush();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n', 'e\n'], 'flush writes at once');
    await nextTurn();
    assert.equal(writes.length, 3, 'nothing written twice');
  } finally {
    w.close();
  }
});

test('what is held when the process exits is written, also on a process.exit() in the same turn', () => {
  const script = `
    const { TurnWriter } = await import(${JSON.stringify(MODULE)});
    const w = new TurnWriter((t) => process.stderr.write(t));
    w.write('first\\n');
    w.write('last words\\n');
    process.exit(3);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 3);
  assert.equal(r.stderr, 'first\nlast words\n');
});
