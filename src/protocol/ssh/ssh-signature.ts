/**
 * SSH signature blobs: `string algorithm, string signature` (RFC 4253 §6.6), with
 * ssh-ed25519 (RFC 8709 §6: 64 raw bytes), ecdsa-sha2-* (RFC 5656 §3.1.2: a string holding
 * mpint r, mpint s) and rsa-sha2-256/512 (RFC 8332 §3). Verification uses WebCrypto
 * (`globalThis.crypto.subtle`), present in Node 20 and browsers. Pure; browser-safe.
 *
 * Legacy `ssh-rsa` (SHA-1) signatures are refused: OpenSSH disabled them by default in 8.8.
 */
import { LatchError } from '../../util/latch-error.js';
import { encodeBase64url } from '../base64url.js';
import { SshReader, SshWriter } from './ssh-wire.js';
import { ECDSA_CURVES, type EcdsaKeyType, isEcdsaKeyType, parseSshPublicKey, type SshPublicKey } from './ssh-public-key.js';

export type SshSignatureAlgorithm = 'ssh-ed25519' | EcdsaKeyType | 'rsa-sha2-256' | 'rsa-sha2-512';

export type SshSignature =
  | { algorithm: 'ssh-ed25519'; signature: Uint8Array }
  | { algorithm: EcdsaKeyType; r: bigint; s: bigint }
  | { algorithm: 'rsa-sha2-256' | 'rsa-sha2-512'; signature: Uint8Array };

export function parseSshSignature(blob: Uint8Array): SshSignature {
  const r = new SshReader(blob, 'SSH signature blob');
  const algorithm = r.utf8();
  let sig: SshSignature;
  if (algorithm === 'ssh-ed25519') {
    const s = r.string();
    if (s.length !== 64) throw new LatchError('ssh_bad_signature', 'ssh-ed25519 signature must be 64 bytes');
    sig = { algorithm, signature: s.slice() };
  } else if (isEcdsaKeyType(algorithm)) {
    const inner = new SshReader(r.string(), 'ECDSA signature');
    const rr = inner.mpint();
    const ss = inner.mpint();
    inner.expectEnd();
    const n = ECDSA_CURVES[algorithm].noble.Point.CURVE().n;
    if (rr === 0n || ss === 0n || rr >= n || ss >= n) throw new LatchError('ssh_bad_signature', 'ECDSA r or s out of range');
    sig = { algorithm, r: rr, s: ss };
  } else if (algorithm === 'rsa-sha2-256' || algorithm === 'rsa-sha2-512') {
    const s = r.string();
    if (s.length === 0) throw new LatchError('ssh_bad_signature', 'empty RSA signature');
    sig = { algorithm, signature: s.slice() };
  } else {
    throw new LatchError('ssh_unsupported_signature', `unsupported SSH signature algorithm ${JSON.stringify(algorithm.slice(0, 64))}`);
  }
  r.expectEnd();
  return sig;
}

export function encodeSshSignature(sig: SshSignature): Uint8Array {
  const w = new SshWriter().string(sig.algorithm);
  if ('signature' in sig) return w.string(sig.signature).bytes();
  return w.string(new SshWriter().mpint(sig.r).mpint(sig.s).bytes()).bytes();
}

/** Wrap a raw 64-byte Ed25519 signature (RFC 8032) as an SSH signature blob. */
export function ed25519SignatureBlob(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64) throw new TypeError('ed25519 signature must be 64 bytes');
  return encodeSshSignature({ algorithm: 'ssh-ed25519', signature: raw });
}

/** Wrap a raw r‖s ECDSA signature (IEEE P1363, as WebCrypto and noble emit) as an SSH blob. */
export function ecdsaSignatureBlob(raw: Uint8Array, algorithm: EcdsaKeyType = 'ecdsa-sha2-nistp256'): Uint8Array {
  const fb = ECDSA_CURVES[algorithm].fieldBytes;
  if (raw.length !== 2 * fb) throw new TypeError(`${algorithm} raw signature must be ${2 * fb} bytes`);
  return encodeSshSignature({ algorithm, r: bytesToBig(raw.subarray(0, fb)), s: bytesToBig(raw.subarray(fb)) });
}

/** Wrap a raw r‖s P-256 signature. */
export function p256SignatureBlob(raw: Uint8Array): Uint8Array {
  return ecdsaSignatureBlob(raw, 'ecdsa-sha2-nistp256');
}

/** Which signature algorithms a key may produce (RFC 8332 §3: RSA keys sign with rsa-sha2-*). */
function algorithmMatchesKey(key: SshPublicKey, alg: SshSignatureAlgorithm): boolean {
  if (key.type === 'ssh-rsa') return alg === 'rsa-sha2-256' || alg === 'rsa-sha2-512';
  return key.type === alg;
}

/**
 * Verify an SSH signature blob over `data` with a public key blob. Returns false for a
 * well-formed signature that does not verify or does not match the key's type; throws
 * LatchError for malformed blobs.
 */
export async function verifySshSignature(pubKeyBlob: Uint8Array, sigBlob: Uint8Array, data: Uint8Array): Promise<boolean> {
  const key = parseSshPublicKey(pubKeyBlob);
  const sig = parseSshSignature(sigBlob);
  if (!algorithmMatchesKey(key, sig.algorithm)) return false;
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new LatchError('no_webcrypto', 'WebCrypto is not available');
  try {
    if (key.type === 'ssh-ed25519' && sig.algorithm === 'ssh-ed25519') {
      const k = await subtle.importKey('raw', buf(key.publicKey), { name: 'Ed25519' }, false, ['verify']);
      return await subtle.verify({ name: 'Ed25519' }, k, buf(sig.signature), buf(data));
    }
    if (key.type === 'ssh-rsa' && 'signature' in sig) {
      const hash = sig.algorithm === 'rsa-sha2-256' ? 'SHA-256' : 'SHA-512';
      const jwk: JsonWebKey = { kty: 'RSA', n: encodeBase64url(bigToBytes(key.n)), e: encodeBase64url(bigToBytes(key.e)), ext: true };
      const k = await subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify']);
      return await subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, k, buf(sig.signature), buf(data));
    }
    if ('point' in key && 'r' in sig) {
      const info = ECDSA_CURVES[key.type];
      const k = await subtle.importKey('raw', buf(key.point), { name: 'ECDSA', namedCurve: info.webCurve }, false, ['verify']);
      const raw = new Uint8Array(2 * info.fieldBytes);
      raw.set(bigToBytes(sig.r, info.fieldBytes), 0);
      raw.set(bigToBytes(sig.s, info.fieldBytes), info.fieldBytes);
      return await subtle.verify({ name: 'ECDSA', hash: info.hash }, k, raw, buf(data));
    }
  } catch (e) {
    throw new LatchError('ssh_verify_failed', 'could not verify the SSH signature', { cause: e });
  }
  return false;
}

/** A copy backed by a plain ArrayBuffer, as WebCrypto's types require. */
function buf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function bigToBytes(v: bigint, len?: number): Uint8Array {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const n = hex.length / 2;
  const size = len ?? n;
  if (n > size) throw new TypeError('integer too large');
  const out = new Uint8Array(size);
  for (let i = 0; i < n; i++) out[size - n + i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
