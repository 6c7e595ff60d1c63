/**
 * Holds a stream's writes until the current turn of the event loop ends (its callback and the
 * microtasks it queued), then flushes them as one write. The relay answers a whole read of
 * frames, or a whole committed batch, with many small frames: written one by one, each is a
 * writev system call of its own (~8 µs here, PROTOCOL.md §3.8); corked, the turn's frames to one
 * socket go out in one. Nothing waits longer than the turn that produced it.
 */
import type { Writable } from 'node:stream';

const corked = new WeakSet<Writable>();

export function corkUntilTick(stream: Writable): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  // nextTick runs after this callback and the promise jobs already queued, before any further I/O.
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork();
  });
}
