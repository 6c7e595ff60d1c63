/**
 * Flow account keys: the model the ledger stores and the RLP that Flow uses for a new
 * key (fcl-js packages/util-encode-key: RLP[publicKey, signAlgo, hashAlgo, weight]).
 *
 * Algorithm codes are Flow's protocol codes (flow-go crypto): ECDSA_P256=2,
 * ECDSA_secp256k1=3; SHA2_256=1, SHA3_256=3. Cadence's own enums number them differently
 * (see cadence-templates.ts). Pure; browser-safe.
 */
import { decode as rlpDecode, encode as rlpEncode } from '@ethereumjs/rlp';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { LatchError } from '../../util/latch-error.js';
import { bytesToHex, canonicalHex, hexToBytes } from './flow-hex.js';

export const SIGN_ALGO_ECDSA_P256 = 2;
export const SIGN_ALGO_ECDSA_SECP256K1 = 3;
export const HASH_ALGO_SHA2_256 = 1;
export const HASH_ALGO_SHA3_256 = 3;
export type FlowSignAlgo = typeof SIGN_ALGO_ECDSA_P256 | typeof SIGN_ALGO_ECDSA_SECP256K1;
export type FlowHashAlgo = typeof HASH_ALGO_SHA2_256 | typeof HASH_ALGO_SHA3_256;
/** Sum of signing key weights an account needs to authorize a transaction. */
export const FULL_WEIGHT = 1000;

/** A key as an account holds it. */
export interface FlowAccountKey {
  index: number;
  /** Uncompressed public point without the 0x04 prefix: X‖Y, 64 bytes, lowercase hex. */
  publicKey: string;
  signAlgo: FlowSignAlgo;
  hashAlgo: FlowHashAlgo;
  /** 0..1000 */
  weight: number;
  sequenceNumber: number;
  revoked: boolean;
}

/** The fields needed to add a key; index, sequence number and revoked are the ledger's. */
export type NewFlowAccountKey = Pick<FlowAccountKey, 'publicKey' | 'signAlgo' | 'hashAlgo' | 'weight'>;

export function parseSignAlgo(n: unknown): FlowSignAlgo {
  if (n === SIGN_ALGO_ECDSA_P256 || n === SIGN_ALGO_ECDSA_SECP256K1) return n;
  throw new LatchError('bad_key', 'signature algorithm must be ECDSA_P256 (2) or ECDSA_secp256k1 (3)');
}

export function parseHashAlgo(n: unknown): FlowHashAlgo {
  if (n === HASH_ALGO_SHA2_256 || n === HASH_ALGO_SHA3_256) return n;
  throw new LatchError('bad_key', 'hash algorithm must be SHA2_256 (1) or SHA3_256 (3)');
}

export function parseWeight(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > FULL_WEIGHT) {
    throw new LatchError('bad_key', 'key weight must be an integer between 0 and 1000');
  }
  return n;
}

/**
 * Strict public key: 64 bytes X‖Y that is a point on the key's curve (Flow refuses keys
 * that are not). Returns canonical lowercase hex.
 */
export function parsePublicKey(hex: string, signAlgo: FlowSignAlgo): string {
  const bytes = hexToBytes(hex, 'public key', 64);
  const uncompressed = new Uint8Array(65);
  uncompressed[0] = 4;
  uncompressed.set(bytes, 1);
  const curve = signAlgo === SIGN_ALGO_ECDSA_P256 ? p256 : secp256k1;
  try {
    curve.Point.fromBytes(uncompressed).assertValidity();
  } catch {
    throw new LatchError('bad_key', 'public key is not a point on the curve of its signature algorithm');
  }
  return bytesToHex(bytes);
}

/** Validates a new key (curve point, algorithms, weight); returns a canonical copy. */
export function normalizeNewKey(key: NewFlowAccountKey): NewFlowAccountKey {
  if (key === null || typeof key !== 'object') throw new TypeError('key must be an object');
  const signAlgo = parseSignAlgo(key.signAlgo);
  return {
    publicKey: parsePublicKey(key.publicKey, signAlgo),
    signAlgo,
    hashAlgo: parseHashAlgo(key.hashAlgo),
    weight: parseWeight(key.weight),
  };
}

/**
 * RLP[publicKey(64), signAlgo, hashAlgo, weight], as util-encode-key's encodeKey.
 * Only checks shape (64 bytes), not the curve, so Flow's published vectors (whose keys are
 * arbitrary bytes) encode; use normalizeNewKey to check a key you will store.
 */
export function encodeAccountKey(key: NewFlowAccountKey): Uint8Array {
  return rlpEncode([
    hexToBytes(canonicalHex(key.publicKey, 'public key', 64), 'public key', 64),
    parseSignAlgo(key.signAlgo),
    parseHashAlgo(key.hashAlgo),
    parseWeight(key.weight),
  ]);
}

function rlpUint(b: unknown, what: string): number {
  if (!(b instanceof Uint8Array)) throw new LatchError('bad_key', `${what} must be an RLP integer`);
  // Canonical RLP integers have no leading zero byte; zero is the empty string.
  if (b.length > 0 && b[0] === 0) throw new LatchError('bad_key', `${what} has a non-canonical encoding`);
  if (b.length > 2) throw new LatchError('bad_key', `${what} is out of range`);
  let n = 0;
  for (const x of b) n = n * 256 + x;
  return n;
}

/** Strict inverse of encodeAccountKey: rejects trailing bytes and non-canonical integers. */
export function decodeAccountKey(bytes: Uint8Array): NewFlowAccountKey {
  let decoded: unknown;
  try {
    decoded = rlpDecode(bytes);
  } catch {
    throw new LatchError('bad_key', 'account key is not valid RLP');
  }
  if (!Array.isArray(decoded) || decoded.length !== 4) throw new LatchError('bad_key', 'account key must be an RLP list of 4 items');
  const [pk, sa, ha, w] = decoded as unknown[];
  if (!(pk instanceof Uint8Array) || pk.length !== 64) throw new LatchError('bad_key', 'public key must be 64 bytes');
  const key: NewFlowAccountKey = {
    publicKey: bytesToHex(pk),
    signAlgo: parseSignAlgo(rlpUint(sa, 'signature algorithm')),
    hashAlgo: parseHashAlgo(rlpUint(ha, 'hash algorithm')),
    weight: parseWeight(rlpUint(w, 'weight')),
  };
  // Round trip guards against any encoding the RLP decoder tolerates but we do not emit.
  const again = encodeAccountKey(key);
  if (again.length !== bytes.length || again.some((x, i) => x !== bytes[i])) {
    throw new LatchError('bad_key', 'account key has a non-canonical encoding');
  }
  return key;
}
