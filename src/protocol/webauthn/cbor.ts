/**
 * CBOR for WebAuthn (RFC 8949), through cborg. Encoding is CTAP2 canonical (CTAP 2.1 §8 "CTAP2
 * canonical CBOR encoding form": smallest integer and length forms, definite lengths, map keys
 * sorted length-first then bytewise), which is cborg's default rule (RFC 7049 §3.9). Decoding is
 * strict: smallest forms only, no indefinite lengths, no `undefined`, no duplicate map keys, so a
 * peer cannot hide a second value behind the first. Maps decode as `Map` because COSE keys use
 * integer labels. Pure; browser-safe.
 */
import { decode, decodeFirst, encode } from 'cborg';
import { LatchError } from '../../util/latch-error.js';

export type CborValue = number | bigint | string | boolean | null | Uint8Array | CborValue[] | Map<CborValue, CborValue>;

const DECODE_OPTIONS = { strict: true, allowIndefinite: false, allowUndefined: false, rejectDuplicateMapKeys: true, useMaps: true } as const;

/** Plain Uint8Array views: under Node cborg hands out Buffers, which compare differently. */
function plain(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function encodeCbor(value: CborValue): Uint8Array {
  return plain(encode(value));
}

/** Decode exactly one CBOR item that fills `bytes`. */
export function decodeCbor(bytes: Uint8Array, what: string): CborValue {
  try {
    return decode(bytes, DECODE_OPTIONS) as CborValue;
  } catch (e) {
    throw new LatchError('bad_cbor', `${what} is not valid CBOR (${(e as Error).message.slice(0, 120)})`);
  }
}

/** Decode the first CBOR item of `bytes`; returns it and the bytes after it. */
export function decodeCborFirst(bytes: Uint8Array, what: string): [CborValue, Uint8Array] {
  try {
    const [value, rest] = decodeFirst(bytes, DECODE_OPTIONS);
    return [value as CborValue, plain(rest)];
  } catch (e) {
    throw new LatchError('bad_cbor', `${what} is not valid CBOR (${(e as Error).message.slice(0, 120)})`);
  }
}

/** A CBOR map as decoded (a Map), or a clear error. */
export function cborMap(value: CborValue, what: string): Map<CborValue, CborValue> {
  if (!(value instanceof Map)) throw new LatchError('bad_cbor', `${what} must be a CBOR map`);
  return value;
}

export function cborBytes(value: CborValue | undefined, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new LatchError('bad_cbor', `${what} must be a CBOR byte string`);
  return plain(value);
}
