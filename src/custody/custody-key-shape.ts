/**
 * The one shape of key a custody account holds (docs/CUSTODY.md "Keys"): P-256 with SHA2-256 and
 * weight 500, so any two of device, server and recovery reach Flow's 1000 and no one key does.
 * Every path by which the server adds or forwards an add-key checks it (join, recovery, the
 * co-signed add of a recovery key, a two-device signature request, a raw submission): a key of
 * weight 1000 added through a signature request or /submit alone moved funds past every limit.
 */
import type { NewFlowAccountKey } from '../ledger/flow/flow-account-key.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { CUSTODY_KEY_WEIGHT } from './custody-api.js';

export function isCustodyKeyShape(key: NewFlowAccountKey): boolean {
  return key.weight === CUSTODY_KEY_WEIGHT && key.signAlgo === SIGN_ALGO_ECDSA_P256 && key.hashAlgo === HASH_ALGO_SHA2_256;
}
