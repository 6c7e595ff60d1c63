/**
 * Strict base64, both alphabets of RFC 4648: base64url (§5, no padding) for our own wire
 * formats, and standard base64 (§4, padded) as OpenSSH and the Flow Access API write it.
 * Strict means: only that alphabet, padding exactly as the variant says, no whitespace, and a
 * canonical last character (unused low bits zero), so every byte string has exactly one
 * accepted text form. Pure; browser-safe.
 */
import { LatchError } from '../util/latch-error.js';

interface Variant {
  readonly alphabet: string;
  readonly lookup: ReadonlyMap<string, number>;
  readonly padded: boolean;
  readonly name: string;
}

function variant(alphabet: string, padded: boolean, name: string): Variant {
  return { alphabet, lookup: new Map([...alphabet].map((c, i) => [c, i])), padded, name };
}

const URL_SAFE = variant('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', false, 'base64url');
const STANDARD = variant('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', true, 'base64');

function encode(bytes: Uint8Array, v: Variant): string {
  const A = v.alphabet;
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const n = (bytes[i]! << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    out += A[(n >> 18) & 63]! + A[(n >> 12) & 63]!;
    if (b1 !== undefined) out += A[(n >> 6) & 63]!;
    else if (v.padded) out += '=';
    if (b2 !== undefined) out += A[n & 63]!;
    else if (v.padded) out += '=';
  }
  return out;
}

function decode(text: string, what: string, v: Variant): Uint8Array {
  const bad = (why: string): LatchError => new LatchError('bad_base64', `${what} is not valid ${v.name} (${why})`);
  let body = text;
  if (v.padded) {
    if (text.length % 4 !== 0) throw bad('bad length');
    body = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  }
  if (body.length % 4 === 1) throw bad('bad length');
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of body) {
    const x = v.lookup.get(c);
    if (x === undefined) throw bad('unexpected character');
    acc = ((acc << 6) | x) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw bad('non-canonical encoding');
  return out.subarray(0, o);
}

/**
 * Node's Buffer codes base64url natively, some 10x faster than the loops above, which matters
 * where every relay message passes through here (PROTOCOL.md §3.5). Browsers take the loops.
 */
interface NodeBufferLike {
  from(bytes: ArrayBufferLike, offset: number, length: number): { toString(enc: 'base64url'): string };
  from(text: string, enc: 'base64url'): Uint8Array & { toString(enc: 'base64url'): string };
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

export function encodeBase64url(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  return encode(bytes, URL_SAFE);
}

/** @param what names the field in the error message, e.g. "pairing link key". */
export function decodeBase64url(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('decodeBase64url expects a string');
  if (NodeBuffer !== undefined) {
    // Buffer is lenient (padding, the other alphabet, junk): only text that re-encodes to itself
    // is canonical; anything else goes through the strict loop for its precise error.
    const b = NodeBuffer.from(text, 'base64url');
    if (b.toString('base64url') === text) return new Uint8Array(b);
  }
  return decode(text, what, URL_SAFE);
}

/** Decode and require an exact length, the usual case for keys and ids. */
export function decodeBase64urlBytes(text: string, length: number, what: string): Uint8Array {
  const bytes = decodeBase64url(text, what);
  if (bytes.length !== length) {
    throw new LatchError('bad_length', `${what} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Standard padded base64 (RFC 4648 §4), as in authorized_keys lines, SSHSIG armor and Flow's REST API. */
export function encodeBase64(bytes: Uint8Array): string {
  return encode(bytes, STANDARD);
}

/** Strict standard base64. Input from JSON may be of any type: that is bad input, not a caller bug. */
export function decodeBase64(text: string, what = 'base64 value'): Uint8Array {
  if (typeof text !== 'string') throw new LatchError('bad_base64', `${what} must be a base64 string`);
  return decode(text, what, STANDARD);
}
