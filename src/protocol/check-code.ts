/**
 * The pairing check code (PROTOCOL.md §4.4): both screens show it, so the user sees that the
 * authenticator the computer paired with is the one in their hand.
 *   h = SHA-256("latch-check-v1" ‖ computer_pk ‖ authenticator_pk)
 *   code = (big-endian uint32 of h[0..4]) mod 10^6, as "123-456"
 * An attacker racing step 2 cannot grind a key to match: the honest authenticator's key travels
 * only inside the sealed box, so the attacker never learns the code it would have to hit.
 */
import type { Sodium } from './sodium.js';

const DOMAIN = new TextEncoder().encode('latch-check-v1');

export function checkCode(sodium: Sodium, computerPublicKey: Uint8Array, authenticatorPublicKey: Uint8Array): string {
  if (computerPublicKey.length !== 32 || authenticatorPublicKey.length !== 32) {
    throw new TypeError('check code needs two 32-byte public keys');
  }
  const input = new Uint8Array(DOMAIN.length + 64);
  input.set(DOMAIN, 0);
  input.set(computerPublicKey, DOMAIN.length);
  input.set(authenticatorPublicKey, DOMAIN.length + 32);
  const h = sodium.crypto_hash_sha256(input);
  const n = ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
  const digits = String(n % 1_000_000).padStart(6, '0');
  return `${digits.slice(0, 3)}-${digits.slice(3)}`;
}
