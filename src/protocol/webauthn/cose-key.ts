/**
 * COSE keys (RFC 9052 §7, RFC 9053 §2.1 and §2.2) for the two algorithms Latch makes:
 *   ES256 (-7):  kty 2 (EC2), crv 1 (P-256), x, y   (32 bytes each)
 *   EdDSA (-8):  kty 1 (OKP), crv 6 (Ed25519), x    (32 bytes)
 * and their SubjectPublicKeyInfo DER (RFC 5480, RFC 8410), which is what
 * AuthenticatorAttestationResponse.getPublicKey() returns (WebAuthn L3 §5.2.1.1).
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { cborBytes, cborMap, decodeCbor, encodeCbor, type CborValue } from './cbor.js';

export const COSE_ES256 = -7;
export const COSE_EDDSA = -8;
export type CoseAlgorithm = typeof COSE_ES256 | typeof COSE_EDDSA;
export const SUPPORTED_ALGORITHMS: readonly CoseAlgorithm[] = [COSE_ES256, COSE_EDDSA];

/** A public key: `raw` is the uncompressed SEC1 point (65 bytes) for ES256, the 32-byte key for EdDSA. */
export interface PublicKey {
  alg: CoseAlgorithm;
  raw: Uint8Array;
}

const KTY = 1;
const ALG = 3;
const CRV = -1;
const X = -2;
const Y = -3;

export function encodeCoseKey(key: PublicKey): Uint8Array {
  if (key.alg === COSE_ES256) {
    if (key.raw.length !== 65 || key.raw[0] !== 0x04) throw new TypeError('ES256 public key must be a 65-byte uncompressed point');
    return encodeCbor(
      new Map<CborValue, CborValue>([
        [KTY, 2],
        [ALG, COSE_ES256],
        [CRV, 1],
        [X, key.raw.slice(1, 33)],
        [Y, key.raw.slice(33, 65)],
      ]),
    );
  }
  if (key.raw.length !== 32) throw new TypeError('Ed25519 public key must be 32 bytes');
  return encodeCbor(
    new Map<CborValue, CborValue>([
      [KTY, 1],
      [ALG, COSE_EDDSA],
      [CRV, 6],
      [X, key.raw.slice()],
    ]),
  );
}

function bad(message: string): LatchError {
  return new LatchError('bad_cose_key', message);
}

/** Parse a COSE key of a supported algorithm; exactly the fields above, nothing else. */
export function parseCoseKey(value: Uint8Array | CborValue): PublicKey {
  const map = cborMap(value instanceof Uint8Array ? decodeCbor(value, 'COSE key') : value, 'COSE key');
  const alg = map.get(ALG);
  const expect = (labels: number[]): void => {
    if (map.size !== labels.length || !labels.every((l) => map.has(l))) throw bad('COSE key has missing or extra fields');
  };
  if (alg === COSE_ES256) {
    expect([KTY, ALG, CRV, X, Y]);
    if (map.get(KTY) !== 2 || map.get(CRV) !== 1) throw bad('ES256 COSE key must be kty 2 (EC2), crv 1 (P-256)');
    const x = cborBytes(map.get(X), 'COSE key x');
    const y = cborBytes(map.get(Y), 'COSE key y');
    if (x.length !== 32 || y.length !== 32) throw bad('P-256 coordinates must be 32 bytes');
    const raw = new Uint8Array(65);
    raw[0] = 0x04;
    raw.set(x, 1);
    raw.set(y, 33);
    return { alg: COSE_ES256, raw };
  }
  if (alg === COSE_EDDSA) {
    expect([KTY, ALG, CRV, X]);
    if (map.get(KTY) !== 1 || map.get(CRV) !== 6) throw bad('EdDSA COSE key must be kty 1 (OKP), crv 6 (Ed25519)');
    const x = cborBytes(map.get(X), 'COSE key x');
    if (x.length !== 32) throw bad('Ed25519 key must be 32 bytes');
    return { alg: COSE_EDDSA, raw: x.slice() };
  }
  throw bad(`COSE algorithm ${String(alg)} is not supported (ES256 -7, EdDSA -8)`);
}

// DER prefixes of SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING { key } }.
// id-ecPublicKey (1.2.840.10045.2.1) with prime256v1 (1.2.840.10045.3.1.7), RFC 5480 §2.
const P256_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);
// id-Ed25519 (1.3.101.112), RFC 8410 §4.
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

export function spkiFromPublicKey(key: PublicKey): Uint8Array {
  const prefix = key.alg === COSE_ES256 ? P256_SPKI_PREFIX : ED25519_SPKI_PREFIX;
  const out = new Uint8Array(prefix.length + key.raw.length);
  out.set(prefix);
  out.set(key.raw, prefix.length);
  return out;
}

/** The algorithm the authenticator makes a key for: ES256 if offered, else EdDSA, else none (WebAuthn L3 §6.3.2 step 2). */
export function chooseAlgorithm(offered: readonly number[]): CoseAlgorithm | undefined {
  if (offered.includes(COSE_ES256)) return COSE_ES256;
  if (offered.includes(COSE_EDDSA)) return COSE_EDDSA;
  return undefined;
}
