/**
 * A fresh relay inbox for the custody server's notices (docs/CUSTODY.md "Create"): an Ed25519
 * key pair that owns a relay queue (PROTOCOL.md §3, queue id = hash of its public key) and an
 * X25519 key pair the server boxes notices to. Shared by the CLI and the web authenticator;
 * browser-safe. The secret halves stay in the authenticator's storage, never on the wire.
 */
import { encodeBase64url } from '../protocol/base64url.js';
import { queueIdFromPublicKey } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import type { DeviceInbox } from '../custody/custody-api.js';
import type { StoredCustodyInbox } from './custody-state.js';

export function newCustodyInbox(sodium: Sodium, relayUrl: string): { stored: StoredCustodyInbox; wire: DeviceInbox } {
  const q = sodium.crypto_sign_keypair();
  const b = sodium.crypto_box_keypair();
  return {
    stored: { relayUrl, queuePublicKey: encodeBase64url(q.publicKey), queueSecretKey: encodeBase64url(q.privateKey), boxPublicKey: encodeBase64url(b.publicKey), boxSecretKey: encodeBase64url(b.privateKey) },
    wire: { relay_url: relayUrl, queue_id: queueIdFromPublicKey(sodium, q.publicKey), box_public_key: encodeBase64url(b.publicKey) },
  };
}
