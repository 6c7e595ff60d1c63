/**
 * Chrome native messaging framing (developer.chrome.com "Native messaging": each message is
 * UTF-8 JSON preceded by its length as a 32-bit integer in native byte order, little-endian on
 * every platform Latch runs on). A frame over 1 MiB is refused and its bytes are skipped, so
 * the stream stays in step; bad JSON is refused; either way the host keeps reading.
 */
import { LatchError } from '../util/latch-error.js';

/** Largest message either side sends (Chrome's own limit for host -> browser is 1 MB). */
export const MAX_NATIVE_MESSAGE_BYTES = 1024 * 1024;

export type NativeFrame = { ok: true; value: unknown } | { ok: false; error: LatchError };

export function encodeNativeMessage(value: unknown): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(value));
  if (body.length > MAX_NATIVE_MESSAGE_BYTES) throw new LatchError('message_too_large', 'a native message is over 1 MiB');
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  return out;
}

export class NativeMessageReader {
  #buffer = new Uint8Array(0);
  /** Bytes of a refused frame still to skip. */
  #skip = 0;

  /** Feed bytes; returns the frames they complete, in order. */
  push(chunk: Uint8Array): NativeFrame[] {
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    const merged = new Uint8Array(this.#buffer.length + data.length);
    merged.set(this.#buffer);
    merged.set(data, this.#buffer.length);
    let buf = merged;
    const frames: NativeFrame[] = [];
    while (buf.length >= 4) {
      const length = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true);
      if (length === 0 || length > MAX_NATIVE_MESSAGE_BYTES) {
        frames.push({ ok: false, error: new LatchError(length === 0 ? 'bad_native_message' : 'message_too_large', length === 0 ? 'an empty native message' : `a native message of ${length} bytes is over the 1 MiB limit`) });
        const available = buf.length - 4;
        const n = Math.min(length, available);
        this.#skip = length - n;
        buf = buf.subarray(4 + n);
        continue;
      }
      if (buf.length < 4 + length) break;
      const body = buf.subarray(4, 4 + length);
      buf = buf.subarray(4 + length);
      try {
        frames.push({ ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) });
      } catch {
        frames.push({ ok: false, error: new LatchError('bad_native_message', 'a native message is not UTF-8 JSON') });
      }
    }
    this.#buffer = buf.slice();
    return frames;
  }
}
