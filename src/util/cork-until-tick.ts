/**
 * Holds a stream's writes until the current callback of the event loop has run, then flushes
 * them as one write. The relay answers a whole read of frames, or a whole committed batch, with
 * many small frames: written one by one, each is a writev system call of its own (a full cycle of
 * 30,000 messages made 47,502 of them, PROTOCOL.md §3.8); corked, they go out together.
 *
 * The flush is a `process.nextTick`: it runs when the code that took the cork returns, before any
 * further I/O. Taken inside a promise job, it also waits for the promise jobs already queued (the
 * relay's "stored" answers of one batch are such jobs). Taken in the synchronous part of an I/O
 * callback, it runs before that callback's promise jobs, whose writes then take a cork of their
 * own and leave in a second write of the same pass. Nothing waits for a later turn.
 */
import type { Writable } from 'node:stream';

const corked = new WeakSet<Writable>();

export function corkUntilTick(stream: Writable): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => flushCorked(stream));
}

/**
 * Writes out now what `corkUntilTick` holds on this stream, if anything. For a caller that
 * measures the stream's buffer (the relay's slow-reader check, PROTOCOL.md §3.5): held bytes are
 * not bytes the peer is slow to read. A later `corkUntilTick` in the same turn corks again.
 */
export function flushCorked(stream: Writable): void {
  if (!corked.delete(stream)) return;
  stream.uncork();
}
