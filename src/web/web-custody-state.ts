/**
 * What the web authenticator stores for custody (issue 4's account, held by this browser).
 * The device key is a non-extractable WebCrypto P-256 key: the page can ask the browser to
 * sign with it (ECDSA with SHA-256, which is Flow's ECDSA_P256 + SHA2_256) but never read it.
 * Stored type: never sent; wire types are in src/custody/custody-api.ts. Browser-only.
 */
import type { StoredCustodyInbox } from '../authenticator/custody-state.js';

export interface WebCustody {
  /** Custody server base URL. */
  server: string;
  deviceKey: CryptoKey;
  /** X‖Y hex, the Flow account key form. */
  devicePublicKey: string;
  email?: string;
  refreshToken?: string;
  /** A login started and waiting for the emailed code. */
  pendingLogin?: { email: string; challenge: string };
  account?: string;
  keyIndex?: number;
  /** The server's X25519 key that boxes notices to this device (base64url). */
  serverBoxPublicKey?: string;
  /** Session keys for the notice inbox: bytes, like a pairing's (docs/WEB.md "Keys"). */
  inbox?: StoredCustodyInbox;
  /** True when the account was created without a recovery key: remind the user (as the CLI does). */
  recoveryMissing?: boolean;
  /** Recoveries under way that the server told this device about; shown until cancelled or over. */
  recoveries?: { id: string; account: string; deviceName: string; readyAt: number }[];
}
