/**
 * Signing and verifying Flow messages for one (curve, hash) pair. Flow hashes the
 * domain-tagged message with the key's hash algorithm and signs the digest with ECDSA;
 * the signature is raw r‖s, 32 bytes each (flow-go crypto). Signing is deterministic
 * (RFC 6979 via noble) and low-S normalized; Flow does not require low-S, so verify
 * accepts both halves like flow-go does.
 *
 * These functions take a key as an argument and keep nothing: the authenticator and the
 * custody server hold the keys. Browser-safe.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { LatchError } from '../../util/latch-error.js';
import {
  HASH_ALGO_SHA2_256,
  parseHashAlgo,
  parseSignAlgo,
  SIGN_ALGO_ECDSA_P256,
  type FlowHashAlgo,
  type FlowSignAlgo,
} from './flow-account-key.js';
import { bytesToHex, hexToBytes } from './flow-hex.js';
import { envelopeMessage, normalizeTransaction, payloadMessage, type FlowTransaction } from './flow-transaction.js';

function curveOf(signAlgo: FlowSignAlgo): typeof p256 {
  return parseSignAlgo(signAlgo) === SIGN_ALGO_ECDSA_P256 ? p256 : (secp256k1 as unknown as typeof p256);
}

export function hashFlowMessage(message: Uint8Array, hashAlgo: FlowHashAlgo): Uint8Array {
  return parseHashAlgo(hashAlgo) === HASH_ALGO_SHA2_256 ? sha256(message) : sha3_256(message);
}

/** New random private key (32 bytes) for the curve. */
export function generateFlowPrivateKey(signAlgo: FlowSignAlgo): Uint8Array {
  return curveOf(signAlgo).utils.randomSecretKey();
}

/** X‖Y (64 bytes) lowercase hex, the form Flow stores. */
export function flowPublicKeyFromPrivate(privateKey: Uint8Array, signAlgo: FlowSignAlgo): string {
  const curve = curveOf(signAlgo);
  try {
    return bytesToHex(curve.getPublicKey(privateKey, false).subarray(1));
  } catch {
    throw new LatchError('bad_private_key', 'private key is not a valid scalar for this curve');
  }
}

/** Raw r‖s, 64 bytes, over hash(message). */
export function signFlowMessage(message: Uint8Array, privateKey: Uint8Array, signAlgo: FlowSignAlgo, hashAlgo: FlowHashAlgo): Uint8Array {
  if (!(message instanceof Uint8Array) || !(privateKey instanceof Uint8Array)) throw new TypeError('message and key must be bytes');
  const digest = hashFlowMessage(message, hashAlgo);
  const curve = curveOf(signAlgo);
  try {
    return curve.sign(digest, privateKey, { prehash: false, lowS: true, format: 'compact' });
  } catch {
    // The library's message could echo the key; say only what is wrong.
    throw new LatchError('bad_private_key', 'private key is not a valid scalar for this curve');
  }
}

/** True when `signature` (raw r‖s) is valid for hash(message) under the 64-byte public key. */
export function verifyFlowSignature(
  message: Uint8Array,
  signature: Uint8Array,
  publicKeyHex: string,
  signAlgo: FlowSignAlgo,
  hashAlgo: FlowHashAlgo,
): boolean {
  if (signature.length !== 64) return false;
  let pub: Uint8Array;
  try {
    pub = hexToBytes(publicKeyHex, 'public key', 64);
  } catch {
    return false;
  }
  const uncompressed = new Uint8Array(65);
  uncompressed[0] = 4;
  uncompressed.set(pub, 1);
  try {
    return curveOf(signAlgo).verify(signature, hashFlowMessage(message, hashAlgo), uncompressed, {
      prehash: false,
      lowS: false,
      format: 'compact',
    });
  } catch {
    return false;
  }
}

/** Who is signing: an account key, with the private key to sign with (never stored). */
export interface FlowKeySigner {
  address: string;
  keyIndex: number;
  privateKey: Uint8Array;
  signAlgo: FlowSignAlgo;
  hashAlgo: FlowHashAlgo;
}

/**
 * The ECDSA operations above, as a value: the custody server and the embedded ledger run in
 * Node and use OpenSSL through node:crypto (flow-ecdsa-node.ts); the authenticator and the
 * browser use these (noble, pure JS). Both produce and accept the same raw r‖s signatures.
 */
export interface FlowEcdsa {
  sign(message: Uint8Array, privateKey: Uint8Array, signAlgo: FlowSignAlgo, hashAlgo: FlowHashAlgo): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKeyHex: string, signAlgo: FlowSignAlgo, hashAlgo: FlowHashAlgo): boolean;
}

export const nobleEcdsa: FlowEcdsa = { sign: signFlowMessage, verify: verifyFlowSignature };

/** Returns a copy of `tx` with a payload signature (proposer / authorizer) added. */
export function signTransactionPayload(tx: FlowTransaction, signer: FlowKeySigner, ecdsa: FlowEcdsa = nobleEcdsa): FlowTransaction {
  const n = normalizeTransaction(tx);
  if (n.envelopeSignatures.length > 0) {
    throw new LatchError('bad_transaction', 'payload signatures must be added before envelope signatures');
  }
  const sig = ecdsa.sign(payloadMessage(n), signer.privateKey, signer.signAlgo, signer.hashAlgo);
  return normalizeTransaction({
    ...n,
    payloadSignatures: [...n.payloadSignatures, { address: signer.address, keyIndex: signer.keyIndex, signature: bytesToHex(sig) }],
  });
}

/** Returns a copy of `tx` with an envelope signature (payer) added. */
export function signTransactionEnvelope(tx: FlowTransaction, signer: FlowKeySigner, ecdsa: FlowEcdsa = nobleEcdsa): FlowTransaction {
  const n = normalizeTransaction(tx);
  const sig = ecdsa.sign(envelopeMessage(n), signer.privateKey, signer.signAlgo, signer.hashAlgo);
  return normalizeTransaction({
    ...n,
    envelopeSignatures: [...n.envelopeSignatures, { address: signer.address, keyIndex: signer.keyIndex, signature: bytesToHex(sig) }],
  });
}
