/**
 * What the web authenticator stores for custody (issue 4's account, held by this browser).
 * The device key is a non-extractable WebCrypto P-256 key: the page can ask the browser to
 * sign with it (ECDSA with SHA-256, which is Flow's ECDSA_P256 + SHA2_256) but never read it.
 * Stored type: never sent; wire types are in src/custody/custody-api.ts. Browser-only.
 */
import type { StoredCustody } from '../authenticator/custody-state.js';

/** The CLI's stored custody session, with the device key held by the browser instead of as a scalar. */
export interface WebCustody extends Omit<StoredCustody, 'deviceKey' | 'pendingJoin' | 'pendingRecovery'> {
  /** Non-extractable ECDSA P-256 CryptoKey, usage `sign` only. */
  deviceKey: CryptoKey;
  /** Recoveries under way that the server told this device about; shown until cancelled or over. */
  recoveries?: { id: string; account: string; deviceName: string; readyAt: number }[];
}
