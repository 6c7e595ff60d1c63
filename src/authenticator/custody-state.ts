/**
 * What the authenticator stores for custody (inside the encrypted keystore, never on the
 * wire). The device key is a P-256 scalar used ONLY through custody-device-key.ts; it is
 * never an SSH key and never exported. The recovery key is not stored here at all: it
 * exists only inside the recovery kit file.
 */
export interface StoredCustodyInbox {
  relayUrl: string;
  /** Ed25519 keypair owning the relay queue (base64url, libsodium forms). */
  queuePublicKey: string;
  queueSecretKey: string;
  /** X25519 keypair the server boxes notices to (base64url). */
  boxPublicKey: string;
  boxSecretKey: string;
}

export interface StoredCustody {
  /** Custody server base URL. */
  server: string;
  /** P-256 scalar, hex. */
  deviceKey: string;
  /** X‖Y hex, the account key form. */
  devicePublicKey: string;
  email?: string;
  refreshToken?: string;
  /** A login started with `latch login --email` and waiting for its code. */
  pendingLogin?: { email: string; challenge: string };
  account?: string;
  keyIndex?: number;
  /** The server's X25519 key that boxes notices to this device (base64url). */
  serverBoxPublicKey?: string;
  inbox?: StoredCustodyInbox;
  /** True when the account was created without a recovery key: remind the user. */
  recoveryMissing?: boolean;
  pendingJoin?: { id: string; address: string };
  pendingRecovery?: { id: string; address: string };
}
