/**
 * SSH public key blobs (RFC 4253 §6.6 ssh-rsa, RFC 5656 §3.1 ecdsa-sha2-*, RFC 8709 §4
 * ssh-ed25519), the authorized_keys line format (sshd(8) AUTHORIZED_KEYS FILE FORMAT,
 * without options) and the `SHA256:` fingerprint printed by `ssh-keygen -l`.
 * Strict: unknown key types, wrong lengths, off-curve points and trailing bytes are rejected.
 * Pure; browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { LatchError } from '../../util/latch-error.js';
import { SshReader, SshWriter } from './ssh-wire.js';
import { decodeBase64, encodeBase64 } from '../base64url.js';

export type EcdsaKeyType = 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';
export type SshKeyType = 'ssh-ed25519' | EcdsaKeyType | 'ssh-rsa';

export type SshPublicKey =
  | { type: 'ssh-ed25519'; publicKey: Uint8Array }
  /** point: SEC1 uncompressed (0x04 ‖ x ‖ y), as RFC 5656 §3.1 carries it. */
  | { type: EcdsaKeyType; curve: 'nistp256' | 'nistp384' | 'nistp521'; point: Uint8Array }
  | { type: 'ssh-rsa'; e: bigint; n: bigint };

export const ECDSA_CURVES = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', fieldBytes: 32, webCurve: 'P-256', hash: 'SHA-256', noble: p256 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', fieldBytes: 48, webCurve: 'P-384', hash: 'SHA-384', noble: p384 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', fieldBytes: 66, webCurve: 'P-521', hash: 'SHA-512', noble: p521 },
} as const;

export function isEcdsaKeyType(t: string): t is EcdsaKeyType {
  return Object.prototype.hasOwnProperty.call(ECDSA_CURVES, t);
}

/** OpenSSH refuses RSA keys under 1024 bits (SSH_RSA_MINIMUM_MODULUS_SIZE); so do we. */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16384;

export function parseSshPublicKey(blob: Uint8Array): SshPublicKey {
  const r = new SshReader(blob, 'SSH public key blob');
  const type = r.utf8();
  let key: SshPublicKey;
  if (type === 'ssh-ed25519') {
    const pk = r.string();
    if (pk.length !== 32) throw new LatchError('ssh_bad_key', 'ssh-ed25519 public key must be 32 bytes');
    key = { type, publicKey: pk.slice() };
  } else if (isEcdsaKeyType(type)) {
    const info = ECDSA_CURVES[type];
    const curve = r.utf8();
    // RFC 5656 §3.1: the identifier must match the key type's curve.
    if (curve !== info.curve) throw new LatchError('ssh_bad_key', `${type} key names curve ${JSON.stringify(curve)}`);
    const point = r.string();
    if (point.length !== 1 + 2 * info.fieldBytes || point[0] !== 0x04) {
      throw new LatchError('ssh_bad_key', `${type} point must be uncompressed`);
    }
    try {
      info.noble.Point.fromBytes(point).assertValidity();
    } catch {
      throw new LatchError('ssh_bad_key', `${type} point is not on the curve`);
    }
    key = { type, curve: info.curve, point: point.slice() };
  } else if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    const bits = n.toString(2).length;
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) throw new LatchError('ssh_bad_key', `ssh-rsa modulus of ${bits} bits`);
    if (e < 3n || e % 2n === 0n) throw new LatchError('ssh_bad_key', 'ssh-rsa exponent is invalid');
    key = { type, e, n };
  } else {
    throw new LatchError('ssh_unsupported_key', `unsupported SSH key type ${JSON.stringify(type.slice(0, 64))}`);
  }
  r.expectEnd();
  return key;
}

export function encodeSshPublicKey(key: SshPublicKey): Uint8Array {
  const w = new SshWriter().string(key.type);
  switch (key.type) {
    case 'ssh-ed25519':
      if (key.publicKey.length !== 32) throw new TypeError('ed25519 public key must be 32 bytes');
      return w.string(key.publicKey).bytes();
    case 'ssh-rsa':
      return w.mpint(key.e).mpint(key.n).bytes();
    default:
      return w.string(key.curve).string(key.point).bytes();
  }
}

/** Build an ssh-ed25519 blob from a raw 32-byte key. */
export function ed25519PublicKeyBlob(publicKey: Uint8Array): Uint8Array {
  return encodeSshPublicKey({ type: 'ssh-ed25519', publicKey });
}

/** Build an ecdsa-sha2-nistp256 blob from a SEC1 point (compressed or uncompressed). */
export function p256PublicKeyBlob(point: Uint8Array): Uint8Array {
  const uncompressed = p256.Point.fromBytes(point).toBytes(false);
  return encodeSshPublicKey({ type: 'ecdsa-sha2-nistp256', curve: 'nistp256', point: uncompressed });
}

/** The key type name inside a blob, without fully validating it. */
export function sshKeyTypeOf(blob: Uint8Array): string {
  return new SshReader(blob, 'SSH public key blob').utf8();
}

/** `ssh-keygen -l` style: "SHA256:" + unpadded base64 of SHA-256(blob). */
export function sshFingerprint(blob: Uint8Array): string {
  return 'SHA256:' + encodeBase64(sha256(blob)).replace(/=+$/, '');
}

export interface AuthorizedKeyLine {
  type: SshKeyType;
  blob: Uint8Array;
  key: SshPublicKey;
  comment: string;
}

/**
 * Parse `type base64 [comment]` (one line, no options prefix). The type field must
 * equal the type inside the blob, as sshd requires.
 */
export function parseAuthorizedKeyLine(line: string): AuthorizedKeyLine {
  if (typeof line !== 'string') throw new TypeError('parseAuthorizedKeyLine expects a string');
  const trimmed = line.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(trimmed)) throw new LatchError('ssh_bad_key', 'public key line contains a line break');
  const m = /^[ \t]*(\S+)[ \t]+(\S+)(?:[ \t]+(.*?))?[ \t]*$/.exec(trimmed);
  if (!m) throw new LatchError('ssh_bad_key', 'public key line must be "type base64 [comment]"');
  const blob = decodeBase64(m[2]!, 'public key');
  const key = parseSshPublicKey(blob);
  if (key.type !== m[1]) throw new LatchError('ssh_bad_key', 'public key line type does not match the key blob');
  return { type: key.type, blob, key, comment: m[3] ?? '' };
}

export function formatAuthorizedKeyLine(blob: Uint8Array, comment = ''): string {
  const key = parseSshPublicKey(blob);
  if (/[\r\n]/.test(comment)) throw new TypeError('comment must not contain a line break');
  const base = `${key.type} ${encodeBase64(blob)}`;
  return comment ? `${base} ${comment}` : base;
}
