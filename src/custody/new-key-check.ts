/**
 * Custody rule of issue 15: an account never holds the same public key at two live indexes,
 * however the key arrives (join, an added recovery key, recovery, a raw submission). One private
 * key at two indexes of weight 500 signs as both and reaches Flow's 1000 alone. The embedded
 * ledger enforces the same rule; a real Flow network does not, so the server checks first.
 */
import { LatchError } from '../util/latch-error.js';
import type { FlowAccountKey } from '../ledger/flow/flow-account-key.js';
import { keyFingerprint } from './key-fingerprint.js';

/** Throws `duplicate_key` (409) when a live key of the account already is `publicKey`. */
export function assertNewKey(keys: readonly FlowAccountKey[], publicKey: string): void {
  const same = keys.find((k) => !k.revoked && k.publicKey === publicKey);
  if (same) {
    throw new LatchError('duplicate_key', `the account already holds this public key (${keyFingerprint(publicKey)}) as key ${same.index}; one key cannot hold two indexes`, { status: 409 });
  }
}
