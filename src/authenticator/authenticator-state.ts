/**
 * What the authenticator STORES (inside the encrypted keystore). These are stored types:
 * they hold secrets and never go on the wire; wire types live in src/protocol/. Anything
 * sent is built field by field from these, never by serialising them.
 */
export interface StoredSshKey {
  name: string;
  type: 'ssh-ed25519' | 'ecdsa-sha2-nistp256';
  /** SSH public key blob, base64 (the middle field of an authorized_keys line). */
  publicBlob: string;
  /** Private key, base64url: libsodium 64-byte Ed25519 secret key, or the 32-byte P-256 scalar. */
  secret: string;
  createdAt: number;
}

export interface StoredPairing {
  /** Local handle; equals the authenticator's queue id for this pairing. */
  id: string;
  computerName: string;
  computerPublicKey: string;
  /** The computer's inbox queue id, where responses go. */
  computerQueue: string;
  relayUrl: string;
  /** This authenticator's X25519 keypair for the pairing. */
  sessionPublicKey: string;
  sessionSecretKey: string;
  /** Ed25519 keypair that owns this pairing's inbox queue on the relay. */
  queuePublicKey: string;
  queueSecretKey: string;
  pairedAt: number;
}

export interface ReplayEntry {
  requestId: string;
  requestHash: string;
  /** The exact response plaintext sent the first time (base64url). */
  response: string;
  at: number;
}

export interface AuthenticatorState {
  v: 1;
  deviceId: string;
  name: string;
  createdAt: number;
  sshKeys: StoredSshKey[];
  pairings: StoredPairing[];
  replay: ReplayEntry[];
}
