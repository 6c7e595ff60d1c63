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
  /**
   * The exact response plaintext sent the first time (base64url), or "" while the request is
   * claimed but not finished: written BEFORE acting, so a crash mid-action can never lead to
   * acting twice (PROTOCOL.md §5.5).
   */
  response: string;
  at: number;
  /** The request's own unix_seconds: the entry must outlive the request's freshness. */
  requestSeconds?: number;
  /** Process that claimed it (only meaningful while response is ""). */
  pid?: number;
}

export interface AuthenticatorState {
  v: 1;
  deviceId: string;
  name: string;
  createdAt: number;
  sshKeys: StoredSshKey[];
  pairings: StoredPairing[];
  /** Replay entries up to the last compaction; newer ones are in replay.journal (PROTOCOL.md §5.5). */
  replay: ReplayEntry[];
  /** Key of the replay journal's records (32 bytes, base64url); made on first use. */
  replayJournalKey?: string;
  /** SSH host keys pinned per host name on first verified use (issue 3). Absent in older keystores. */
  pinnedHosts?: PinnedHost[];
  /** Timed approvals (issue 3). Absent in older keystores. */
  policies?: StoredPolicy[];
  /** Pairing ids whose user opted in to timed approvals for unverified hosts. */
  allowUnverifiedFor?: string[];
  /** Custody (issue 4): device key, session, account. Absent until `latch login`. */
  custody?: import('./custody-state.js').StoredCustody;
  /** WebAuthn credentials (issue 11). Absent in older keystores. */
  webauthnCredentials?: StoredWebauthnCredential[];
}

/**
 * A WebAuthn credential (issue 11): one random key per credential, used only under `rpId`
 * (src/authenticator/webauthn-core.ts). Discoverable: the authenticator finds it by rpId.
 */
export interface StoredWebauthnCredential {
  /** Credential id, base64url of 32 random bytes. */
  id: string;
  rpId: string;
  rpName: string;
  /** The site's user handle (user.id), base64url. */
  userHandle: string;
  userName: string;
  userDisplayName: string;
  /** COSE algorithm: -7 ES256 (P-256), -8 EdDSA (Ed25519). */
  alg: -7 | -8;
  /** Private key, base64url: the P-256 scalar or the Ed25519 seed (32 bytes each). */
  secret: string;
  /** Public key, base64url: uncompressed P-256 point (65 bytes) or Ed25519 key (32 bytes). */
  publicKey: string;
  signCount: number;
  createdAt: number;
  lastUsedAt?: number;
}

export interface PinnedHost {
  /** "host" for port 22, else "[host]:port" (known_hosts style). */
  name: string;
  /** Host key blob, base64url. */
  hostKey: string;
  pinnedAt: number;
}

/** What a timed approval covers; `host` = one user@host, `ssh` = every login, `git` = every git signature. */
export type PolicyScope = { kind: 'host'; user: string; host: string } | { kind: 'ssh' } | { kind: 'git' };

export interface StoredPolicy {
  id: string;
  /** The pairing (computer) it was granted to. */
  pairingId: string;
  computerName: string;
  scope: PolicyScope;
  createdAt: number;
  expiresAt: number;
}
