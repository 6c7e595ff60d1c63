/**
 * JSON-Cadence arguments (Cadence JSON interchange format, "JSON-Cadence Data Interchange
 * Format" spec): builders that emit one canonical text per value, and strict parsers that
 * accept only that text (JSON.stringify of {"type","value"} with no whitespace), so a
 * signed argument has exactly one meaning. Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { parseFlowAddress } from './flow-transaction.js';

const UFIX64_RE = /^(0|[1-9][0-9]{0,11})\.([0-9]{8})$/;
const UINT_RE = /^(0|[1-9][0-9]*)$/;
const INT_RE = /^(0|-?[1-9][0-9]*)$/;
const UFIX64_MAX = (1n << 64n) - 1n;
const UNITS = 100_000_000n;

function bad(message: string): never {
  throw new LatchError('bad_argument', message);
}

/** Strict UFix64 text ("10.00000000": exactly 8 decimals) -> integer units of 1e-8. */
export function ufix64ToUnits(text: string): bigint {
  const m = typeof text === 'string' ? UFIX64_RE.exec(text) : null;
  if (!m) bad('UFix64 must be digits with exactly 8 decimals, e.g. "10.00000000"');
  const units = BigInt(m[1]!) * UNITS + BigInt(m[2]!);
  if (units > UFIX64_MAX) bad('UFix64 is out of range');
  return units;
}

export function unitsToUFix64(units: bigint): string {
  if (typeof units !== 'bigint' || units < 0n || units > UFIX64_MAX) throw new TypeError('UFix64 units out of range');
  return `${units / UNITS}.${(units % UNITS).toString().padStart(8, '0')}`;
}

/**
 * Friendlier amount input for people ("10", "0.5", "1.25") -> canonical UFix64 text.
 * Refuses more than 8 decimals instead of rounding.
 */
export function parseAmount(text: string): string {
  const m = typeof text === 'string' ? /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,8}))?$/.exec(text) : null;
  if (!m) bad('amount must be a decimal number with at most 8 decimals');
  const s = `${m[1]}.${(m[2] ?? '').padEnd(8, '0')}`;
  ufix64ToUnits(s);
  return s;
}

type Json = { type: string; value: unknown };

function build(type: string, value: unknown): string {
  return JSON.stringify({ type, value });
}

function parseEnvelope(text: string, type: string): unknown {
  if (typeof text !== 'string') bad(`${type} argument must be a string`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    bad(`${type} argument is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${type} argument must be a JSON object`);
  const o = v as Json;
  const keys = Object.keys(o);
  if (keys.length !== 2 || keys[0] !== 'type' || keys[1] !== 'value') bad(`${type} argument must have exactly "type" then "value"`);
  if (o.type !== type) bad(`argument has type ${JSON.stringify(o.type)}, expected ${type}`);
  // Canonical text only: re-serialising must give the same bytes.
  if (JSON.stringify(o) !== text) bad(`${type} argument is not in canonical form`);
  return o.value;
}

export const cadenceArg = {
  ufix64: (text: string): string => build('UFix64', unitsToUFix64(ufix64ToUnits(text))),
  address: (address: string): string => build('Address', parseFlowAddress(address)),
  string: (s: string): string => {
    if (typeof s !== 'string') throw new TypeError('string expected');
    return build('String', s);
  },
  uint8: (n: number): string => uintArg('UInt8', n, 0xff),
  uint32: (n: number): string => uintArg('UInt32', n, 0xffffffff),
  int: (n: number): string => {
    if (!Number.isSafeInteger(n)) throw new TypeError('safe integer expected');
    return build('Int', String(n));
  },
  bytes: (b: Uint8Array): string => build('Array', [...b].map((x) => ({ type: 'UInt8', value: String(x) }))),
  /** An Optional of any type holding nil (JSON-Cadence "Optional": value null). */
  nil: (): string => build('Optional', null),
};

function uintArg(type: string, n: number, max: number): string {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new TypeError(`${type} out of range`);
  return build(type, String(n));
}

function parseUint(text: string, type: string, max: number): number {
  const v = parseEnvelope(text, type);
  if (typeof v !== 'string' || !UINT_RE.test(v) || v.length > 16 || Number(v) > max) bad(`${type} value is not valid`);
  return Number(v);
}

export const parseCadenceArg = {
  ufix64: (text: string): string => {
    const v = parseEnvelope(text, 'UFix64');
    if (typeof v !== 'string') bad('UFix64 value must be a string');
    ufix64ToUnits(v);
    return v;
  },
  address: (text: string): string => {
    const v = parseEnvelope(text, 'Address');
    if (typeof v !== 'string' || !/^0x[0-9a-f]{16}$/.test(v)) bad('Address value must be 0x and 16 lowercase hex digits');
    return v;
  },
  string: (text: string): string => {
    const v = parseEnvelope(text, 'String');
    if (typeof v !== 'string') bad('String value must be a string');
    return v;
  },
  uint8: (text: string): number => parseUint(text, 'UInt8', 0xff),
  uint32: (text: string): number => parseUint(text, 'UInt32', 0xffffffff),
  int: (text: string): number => {
    const v = parseEnvelope(text, 'Int');
    if (typeof v !== 'string' || !INT_RE.test(v) || !Number.isSafeInteger(Number(v))) bad('Int value is not a valid safe integer');
    return Number(v);
  },
  /** Only nil: the Hybrid Custody templates take their optional arguments as nil (hybrid-custody-templates.ts). */
  nil: (text: string): null => {
    if (parseEnvelope(text, 'Optional') !== null) bad('Optional argument must be nil');
    return null;
  },
  bytes: (text: string): Uint8Array => {
    const v = parseEnvelope(text, 'Array');
    if (!Array.isArray(v)) bad('Array value must be a list');
    return Uint8Array.from(v, (item) => {
      if (item === null || typeof item !== 'object') bad('[UInt8] items must be UInt8 values');
      const keys = Object.keys(item as object);
      const o = item as Json;
      if (keys.length !== 2 || o.type !== 'UInt8' || typeof o.value !== 'string' || !UINT_RE.test(o.value) || Number(o.value) > 255) {
        bad('[UInt8] items must be UInt8 values');
      }
      return Number(o.value);
    });
  },
};
