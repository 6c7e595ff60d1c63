/**
 * A key's fingerprint as people compare it (issue 15 §1 and §4: the cards and `account show`
 * show it, so two indexes holding one key, or a join for an unexpected key, can be seen):
 * "SHA256:" + the first 16 bytes of SHA-256 over the raw public key (P-256 X‖Y, 64 bytes),
 * hex in groups of four. Computed by whoever shows it, from the key itself. Pure; browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';

export function keyFingerprint(publicKeyHex: string): string {
  const hex = bytesToHex(sha256(hexToBytes(publicKeyHex)).subarray(0, 16));
  return `SHA256:${hex.match(/.{4}/g)!.join(' ')}`;
}
