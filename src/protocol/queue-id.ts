/**
 * Relay queue ids (PROTOCOL.md §3.1). A queue is named by the hash of the Ed25519
 * public key that may read it, so the relay can check a reader's proof without any
 * registration step, and knowing the id alone lets one send but never read or ack.
 *   queue_id = base64url( SHA-256( "latch-queue-v1" ‖ ed25519_pk )[0..16] )
 */
import { encodeBase64url } from './base64url.js';
import type { Sodium } from './sodium.js';

export const QUEUE_ID_DOMAIN = 'latch-queue-v1';
export const QUEUE_ID_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/; // 16 bytes -> 22 chars, canonical last char

export function queueIdFromPublicKey(sodium: Sodium, publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new TypeError('queue public key must be 32 bytes');
  }
  const domain = new TextEncoder().encode(QUEUE_ID_DOMAIN);
  const input = new Uint8Array(domain.length + 32);
  input.set(domain, 0);
  input.set(publicKey, domain.length);
  return encodeBase64url(sodium.crypto_hash_sha256(input).subarray(0, 16));
}

export function isQueueId(text: string): boolean {
  return typeof text === 'string' && QUEUE_ID_PATTERN.test(text);
}

/** The keypair that owns a queue. `secretKey` is libsodium's 64-byte Ed25519 form. */
export interface QueueKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}
