/**
 * The fingerprint a person compares to see which key an account index holds: "SHA256:" and the
 * unpadded base64 of SHA-256 over the 64-byte public key (X‖Y), the form `ssh-keygen -l` prints.
 * Two indexes with one fingerprint are one private key (issue 15: a key shown twice is a key that
 * could sign twice). Pure and browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeBase64 } from '../protocol/base64url.js';
import { hexToBytes } from '../ledger/flow/flow-hex.js';

export function keyFingerprint(publicKeyHex: string): string {
  return 'SHA256:' + encodeBase64(sha256(hexToBytes(publicKeyHex))).replace(/=+$/, '');
}
