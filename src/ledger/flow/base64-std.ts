/**
 * Strict standard base64 (RFC 4648 §4, with padding), as the Flow Access REST API uses
 * for scripts, arguments and signatures. Strict: standard alphabet only, padding
 * required, no whitespace, unused bits zero, so one byte string has one text form.
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
    out += b === undefined ? '=' : ALPHABET[(n >> 6) & 63]!;
    out += c === undefined ? '=' : ALPHABET[n & 63]!;
  }
  return out;
}

export function decodeBase64(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new LatchError('bad_base64', `${what} must be a base64 string`);
  if (text.length % 4 !== 0) throw new LatchError('bad_base64', `${what} is not valid base64 (bad length)`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.slice(0, text.length - pad);
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of body) {
    const v = LOOKUP.get(ch);
    if (v === undefined) throw new LatchError('bad_base64', `${what} is not valid base64 (unexpected character)`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new LatchError('bad_base64', `${what} is not canonical base64`);
  return out;
}
