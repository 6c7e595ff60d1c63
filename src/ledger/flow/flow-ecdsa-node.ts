/**
 * Flow ECDSA through node:crypto (OpenSSL) for the parts that only run in Node: the custody
 * server and the embedded ledger. Same contract as the noble functions in flow-signer.ts (raw
 * r‖s over hash(message), low-S on output, either half accepted on input), about fifty times
 * faster, which is most of a co-sign's cost. Key objects are cached: the server signs with few
 * keys and verifies the same accounts' keys again and again.
 */
import { createECDH, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { LatchError } from '../../util/latch-error.js';
import { HASH_ALGO_SHA2_256, parseHashAlgo, parseSignAlgo, SIGN_ALGO_ECDSA_P256, type FlowHashAlgo, type FlowSignAlgo } from './flow-account-key.js';
import { hexToBytes } from './flow-hex.js';
import type { FlowEcdsa } from './flow-signer.js';

const CURVES = {
  p256: { jwk: 'P-256', ecdh: 'prime256v1', n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  secp256k1: { jwk: 'secp256k1', ecdh: 'secp256k1', n: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n },
} as const;

const curveOf = (a: FlowSignAlgo) => (parseSignAlgo(a) === SIGN_ALGO_ECDSA_P256 ? CURVES.p256 : CURVES.secp256k1);
const hashName = (h: FlowHashAlgo) => (parseHashAlgo(h) === HASH_ALGO_SHA2_256 ? 'sha256' : 'sha3-256');
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** Bounded caches: a key object costs far more to build than to use. */
class KeyCache {
  readonly #m = new Map<string, KeyObject>();
  get(k: string, make: () => KeyObject): KeyObject {
    let v = this.#m.get(k);
    if (!v) {
      if (this.#m.size >= 4096) this.#m.delete(this.#m.keys().next().value!);
      v = make();
      this.#m.set(k, v);
    }
    return v;
  }
}
const privateKeys = new KeyCache();
const publicKeys = new KeyCache();

function privateKeyObject(privateKey: Uint8Array, algo: FlowSignAlgo): KeyObject {
  const c = curveOf(algo);
  return privateKeys.get(`${c.jwk}:${b64u(privateKey)}`, () => {
    try {
      const ecdh = createECDH(c.ecdh);
      ecdh.setPrivateKey(privateKey);
      const pub = ecdh.getPublicKey();
      return createPrivateKey({ format: 'jwk', key: { kty: 'EC', crv: c.jwk, d: b64u(privateKey), x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)) } });
    } catch {
      throw new LatchError('bad_private_key', 'private key is not a valid scalar for this curve');
    }
  });
}

function publicKeyObject(publicKeyHex: string, algo: FlowSignAlgo): KeyObject {
  const c = curveOf(algo);
  return publicKeys.get(`${c.jwk}:${publicKeyHex.toLowerCase()}`, () => {
    const pub = hexToBytes(publicKeyHex, 'public key', 64);
    return createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: c.jwk, x: b64u(pub.subarray(0, 32)), y: b64u(pub.subarray(32)) } });
  });
}

export const nodeEcdsa: FlowEcdsa = {
  sign(message, privateKey, signAlgo, hashAlgo) {
    if (!(message instanceof Uint8Array) || !(privateKey instanceof Uint8Array)) throw new TypeError('message and key must be bytes');
    const sig = new Uint8Array(sign(hashName(hashAlgo), message, { key: privateKeyObject(privateKey, signAlgo), dsaEncoding: 'ieee-p1363' }));
    // Low-S, as the noble signer emits: s > n/2 becomes n - s.
    const n = curveOf(signAlgo).n;
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    if (s > n >> 1n) sig.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32);
    return sig;
  },
  verify(message, signature, publicKeyHex, signAlgo, hashAlgo) {
    if (signature.length !== 64) return false;
    try {
      return verify(hashName(hashAlgo), message, { key: publicKeyObject(publicKeyHex, signAlgo), dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false; // not a point on the curve, bad hex: invalid, like the noble verifier says
    }
  },
};
