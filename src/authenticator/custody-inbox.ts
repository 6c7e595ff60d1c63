/**
 * A fresh relay inbox for the custody server's notices (docs/CUSTODY.md "Create"): an Ed25519
 * key pair that owns a relay queue (PROTOCOL.md §3, queue id = hash of its public key) and an
 * X25519 key pair the server boxes notices to. Shared by the CLI and the web authenticator;
 * browser-safe. The secret halves stay in the authenticator's storage, never on the wire.
 */
import { encodeBase64url } from '../protocol/base64url.js';
import { queueIdFromPublicKey } from '../protocol/queue-id.js';
import { decodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { DeviceInbox } from '../custody/custody-api.js';
import type { StoredCustodyInbox } from './custody-state.js';
import type { CustodyClient } from '../sdk/custody-client.js';
import type { CustodySigner } from './custody-device-key.js';

export function newCustodyInbox(sodium: Sodium, relayUrl: string): { stored: StoredCustodyInbox; wire: DeviceInbox } {
  const q = sodium.crypto_sign_keypair();
  const b = sodium.crypto_box_keypair();
  return {
    stored: { relayUrl, queuePublicKey: encodeBase64url(q.publicKey), queueSecretKey: encodeBase64url(q.privateKey), boxPublicKey: encodeBase64url(b.publicKey), boxSecretKey: encodeBase64url(b.privateKey) },
    wire: { relay_url: relayUrl, queue_id: queueIdFromPublicKey(sodium, q.publicKey), box_public_key: encodeBase64url(b.publicKey) },
  };
}

/** The wire form of a stored inbox, to register it again (on every start of `device run`). */
export function custodyInboxWire(sodium: Sodium, stored: StoredCustodyInbox): DeviceInbox {
  return { relay_url: stored.relayUrl, queue_id: queueIdFromPublicKey(sodium, decodeBase64url(stored.queuePublicKey)), box_public_key: stored.boxPublicKey };
}

/**
 * Registers this device's inbox again, signed by its key (issue 15 §4): whatever replaced it
 * meanwhile (a takeover with a stolen access token, a lost server row) is put right each time
 * the device starts listening. A failure is logged, not fatal: the device still serves the
 * inbox it has.
 */
export async function reregisterInbox(o: { sodium: Sodium; client: CustodyClient; account: string; inbox: StoredCustodyInbox; signer: CustodySigner; log: (line: string) => void }): Promise<void> {
  try {
    await o.client.registerInbox(o.account, custodyInboxWire(o.sodium, o.inbox), o.signer);
    o.log('custody: notice inbox registered with the server (signed by this device)');
  } catch (e) {
    o.log(`custody: could not register the notice inbox again (${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}); notices may not reach this device`);
  }
}
