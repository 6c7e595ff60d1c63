/**
 * Strict base64url (RFC 4648 §5, no padding). Strict means: only the URL-safe
 * alphabet, no padding, no whitespace, and the encoding must be canonical (the
 * unused low bits of the last character are zero), so every byte string has
 * exactly one accepted text form. Pure; browser-safe.
 */
import { LatchError } from '../util/latch-error.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOOKUP = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

export function encodeBase64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/** @param what names the field in the error message, e.g. "pairing link key". */
export function decodeBase64url(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('decodeBase64url expects a string');
  if (text.length % 4 === 1) throw new LatchError('bad_base64', `${what} is not valid base64url (bad length)`);
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of text) {
    const v = LOOKUP.get(c);
    if (v === undefined) throw new LatchError('bad_base64', `${what} is not valid base64url (unexpected character)`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new LatchError('bad_base64', `${what} is not valid base64url (non-canonical encoding)`);
  }
  return out.subarray(0, o);
}

/** Decode and require an exact length, the usual case for keys and ids. */
export function decodeBase64urlBytes(text: string, length: number, what: string): Uint8Array {
  const bytes = decodeBase64url(text, what);
  if (bytes.length !== length) {
    throw new LatchError('bad_length', `${what} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}
