/**
 * Signs with the authenticator's SSH keys, and only after the cross-protocol guard
 * (issue 3, "No cross-protocol signing"): the data must parse as an SSH userauth request
 * naming this very key, or as an SSHSIG signed-data blob (sign-data-guard.ts). Nothing
 * else is ever signed with an SSH key.
 *   ssh-ed25519:          RFC 8709 §6, Ed25519 over the data (libsodium).
 *   ecdsa-sha2-nistp256:  RFC 5656 §6.2.1, ECDSA over SHA-256(data) (@noble/curves).
 */
import { p256 } from '@noble/curves/nist.js';
import { decodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import { decodeBase64 } from '../protocol/base64url.js';
import { ed25519SignatureBlob, p256SignatureBlob } from '../protocol/ssh/ssh-signature.js';
import { parseSshSignDataForKey, type ParsedSshSignData } from '../protocol/ssh/sign-data-guard.js';
import type { StoredSshKey } from './authenticator-state.js';

export function storedKeyBlob(key: StoredSshKey): Uint8Array {
  return decodeBase64(key.publicBlob, 'stored key');
}

/** Guard, then sign; returns the SSH signature blob. */
export function signSshData(sodium: Sodium, key: StoredSshKey, data: Uint8Array): { signature: Uint8Array; parsed: ParsedSshSignData } {
  const parsed = parseSshSignDataForKey(storedKeyBlob(key), data);
  const secret = decodeBase64url(key.secret, 'stored key secret');
  try {
    if (key.type === 'ssh-ed25519') return { signature: ed25519SignatureBlob(sodium.crypto_sign_detached(data, secret)), parsed };
    // noble v2: sign() hashes with SHA-256 first (prehash) and returns compact r‖s.
    return { signature: p256SignatureBlob(p256.sign(data, secret)), parsed };
  } finally {
    secret.fill(0);
  }
}
