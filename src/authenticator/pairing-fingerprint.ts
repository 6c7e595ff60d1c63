/**
 * Telling paired computers apart (issue 16 §4): two computers can share a name ("laptop") or use
 * names that look alike ("laptop" / "Laptop" / "1aptop"), and their cards then look the same. A
 * short fingerprint of the pairing (of the computer's pairing public key, which no other pairing
 * has) is shown beside the name, and a name that reads like another pairing's is marked. Pure.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeBase64url } from '../protocol/base64url.js';
import type { StoredPairing } from './authenticator-state.js';

/** "ab12 cd34": the first 4 bytes of SHA-256 of the computer's pairing public key, hex. */
export function pairingFingerprint(p: Pick<StoredPairing, 'computerPublicKey'>): string {
  const hex = Array.from(sha256(decodeBase64url(p.computerPublicKey)).slice(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 4)} ${hex.slice(4)}`;
}

/**
 * What a name looks like, for comparing: compatibility-normalised (NFKC: full-width and other
 * look-alike forms), case-folded, without spaces and punctuation, and with the digits most read
 * as letters (0 1 3 5) read as letters. Not a full confusables table (Unicode UTS #39), which
 * would be a dependency for a warning; NFKC covers the forms a keyboard makes easily.
 */
export function nameSkeleton(name: string): string {
  return name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\p{P}\p{S}]/gu, '')
    .replace(/[0135]/g, (d) => ({ '0': 'o', '1': 'l', '3': 'e', '5': 's' })[d]!);
}

/** The other pairings whose names read like `p`'s. */
export function lookAlikes(p: StoredPairing, all: readonly StoredPairing[]): StoredPairing[] {
  const s = nameSkeleton(p.computerName);
  return all.filter((o) => o.id !== p.id && nameSkeleton(o.computerName) === s);
}
