/**
 * SSH binary data types (RFC 4251 §5): byte, boolean, uint32, uint64, string, mpint.
 * Strict: the reader rejects truncated input, non-canonical booleans and mpints, and
 * `expectEnd()` rejects trailing bytes, so every value has exactly one accepted encoding.
 * Pure; browser-safe.
 */
import { concatBytes } from '@noble/hashes/utils.js';
import { LatchError } from '../../util/latch-error.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function malformed(what: string, detail: string): LatchError {
  return new LatchError('ssh_malformed', `${what}: ${detail}`);
}

export class SshReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    /** Names the structure in error messages, e.g. "public key blob". */
    private readonly what = 'SSH data',
  ) {
    if (!(buf instanceof Uint8Array)) throw new TypeError('SshReader expects a Uint8Array');
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  private take(n: number): Uint8Array {
    if (n > this.remaining) throw malformed(this.what, 'truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  byte(): number {
    return this.take(1)[0]!;
  }

  /** RFC 4251 §5: "applications MUST NOT store values other than 0 and 1" — we reject others. */
  bool(): boolean {
    const b = this.byte();
    if (b > 1) throw malformed(this.what, 'boolean is not 0 or 1');
    return b === 1;
  }

  uint32(): number {
    const b = this.take(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  uint64(): bigint {
    const hi = BigInt(this.uint32());
    const lo = BigInt(this.uint32());
    return (hi << 32n) | lo;
  }

  /** string: uint32 length + bytes. Returns a view into the buffer (copy if you keep it). */
  string(): Uint8Array {
    const len = this.uint32();
    return this.take(len);
  }

  /** A string that must be valid UTF-8 (RFC 4251 §5 "ISO-10646 UTF-8"). */
  utf8(): string {
    const bytes = this.string();
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw malformed(this.what, 'string is not valid UTF-8');
    }
  }

  /**
   * mpint (RFC 4251 §5): two's complement, big-endian, minimal length; zero is the empty
   * string. We accept non-negative values only (SSH never sends negative ones in keys or
   * signatures) and reject any redundant leading 0x00 / missing sign byte.
   */
  mpint(): bigint {
    const b = this.string();
    if (b.length === 0) return 0n;
    if (b[0]! & 0x80) throw malformed(this.what, 'negative mpint');
    if (b[0] === 0 && (b.length === 1 || (b[1]! & 0x80) === 0)) throw malformed(this.what, 'non-minimal mpint');
    let v = 0n;
    for (const x of b) v = (v << 8n) | BigInt(x);
    return v;
  }

  /** The raw magnitude bytes of a non-negative mpint (leading sign byte removed). */
  mpintBytes(): Uint8Array {
    const start = this.pos;
    this.mpint(); // validates
    const s = new SshReader(this.buf.subarray(start, this.pos), this.what).string();
    return s[0] === 0 ? s.subarray(1) : s;
  }

  /** All remaining bytes. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  expectEnd(): void {
    if (this.remaining !== 0) throw malformed(this.what, `${this.remaining} trailing bytes`);
  }
}

export class SshWriter {
  private chunks: Uint8Array[] = [];
  private len = 0;

  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes.slice());
    this.len += bytes.length;
    return this;
  }

  byte(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new TypeError('byte out of range');
    return this.raw(Uint8Array.of(v));
  }

  bool(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }

  uint32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TypeError('uint32 out of range');
    return this.raw(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }

  uint64(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new TypeError('uint64 out of range');
    this.uint32(Number(v >> 32n));
    return this.uint32(Number(v & 0xffffffffn));
  }

  string(v: Uint8Array | string): this {
    const bytes = typeof v === 'string' ? utf8Encoder.encode(v) : v;
    this.uint32(bytes.length);
    return this.raw(bytes);
  }

  /** Non-negative mpint in minimal form (RFC 4251 §5). */
  mpint(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n) throw new TypeError('mpint must be a non-negative bigint');
    if (v === 0n) return this.uint32(0);
    let hex = v.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    const mag = hexToBytes(hex);
    return this.string(mag[0]! & 0x80 ? concatBytes(Uint8Array.of(0), mag) : mag);
  }

  /** mpint from unsigned big-endian magnitude bytes (leading zeros allowed on input). */
  mpintFromBytes(mag: Uint8Array): this {
    let i = 0;
    while (i < mag.length && mag[i] === 0) i++;
    const m = mag.subarray(i);
    if (m.length === 0) return this.uint32(0);
    return this.string(m[0]! & 0x80 ? concatBytes(Uint8Array.of(0), m) : m);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
