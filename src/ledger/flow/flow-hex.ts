/**
 * Strict hex for the Flow codec. Flow's JSON and REST shapes carry bytes as hex
 * (addresses, ids, public keys); we accept either case, always emit lowercase, and
 * refuse odd lengths and stray characters so one byte string has one text form out.
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';

const HEX = /^[0-9a-fA-F]*$/;

export { bytesToHex } from '@noble/hashes/utils.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** @param what names the field in the error, e.g. "reference block id". */
export function hexToBytes(hex: string, what = 'value', expectedLength?: number): Uint8Array {
  // Input from JSON may be any type; that is bad input, not a caller bug.
  if (typeof hex !== 'string') throw new LatchError('bad_hex', `${what} must be a hex string`);
  if (hex.length % 2 !== 0 || !HEX.test(hex)) {
    throw new LatchError('bad_hex', `${what} is not valid hex`);
  }
  if (expectedLength !== undefined && hex.length !== expectedLength * 2) {
    throw new LatchError('bad_hex', `${what} must be ${expectedLength} bytes`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Canonical lowercase hex of exactly `length` bytes. */
export function canonicalHex(hex: string, what: string, length?: number): string {
  return bytesToHex(hexToBytes(hex, what, length));
}
