/**
 * What a device signs to register its notice inbox (docs/CUSTODY.md "Notice inboxes", issue 15
 * §4): an access token alone must not be able to point a device's notices elsewhere, so the
 * registration is signed by the device key it speaks for. Pure; browser-safe.
 *
 *   message = INBOX_DOMAIN_TAG (32 bytes, "LATCH-CUSTODY-INBOX-V1" zero-padded)
 *           ‖ SHA-256( UTF-8 JSON ["latch-inbox-v1", account|"", device, relay_url, queue_id, box_public_key, signed_at] )
 *
 * The tag keeps it apart from Flow transactions and login challenges (its own 32-byte tag, as
 * LOGIN_DOMAIN_TAG); `account` is "" when the inbox comes with `POST /accounts` (no address yet),
 * so a registration for one account cannot be replayed for another; `signed_at` (Unix seconds)
 * lets the server refuse stale and replayed registrations.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import type { DeviceInbox } from './custody-api.js';

export const INBOX_DOMAIN_TAG: Uint8Array = (() => {
  const t = new Uint8Array(32);
  t.set(new TextEncoder().encode('LATCH-CUSTODY-INBOX-V1'));
  return t;
})();

/** A registration as it travels: the inbox plus when and by which key it was signed. */
export interface SignedDeviceInbox extends DeviceInbox {
  /** Unix seconds; the server accepts ±INBOX_SIGNATURE_SKEW_SECONDS and only newer than the last. */
  signed_at: number;
  /** P-256 r‖s, 128 hex digits, by the device key over inboxMessage(). */
  signature: string;
}

export const INBOX_SIGNATURE_SKEW_SECONDS = 300;

export function inboxMessage(o: { account: string | null; device: string; inbox: DeviceInbox; signedAt: number }): Uint8Array {
  const fields = ['latch-inbox-v1', o.account ?? '', o.device, o.inbox.relay_url, o.inbox.queue_id, o.inbox.box_public_key, o.signedAt];
  return concatBytes(INBOX_DOMAIN_TAG, sha256(new TextEncoder().encode(JSON.stringify(fields))));
}
