/**
 * Envelopes: the bytes the relay stores and forwards (PROTOCOL.md §4.2). Pure; the caller
 * passes keys in, nothing is kept.
 *
 *   sealed (pairing step 2): 0x01 ‖ 0x02 ‖ crypto_box_seal(authenticator_pk(32) ‖ authenticator_queue(16), computer_pk)
 *   boxed  (everything else): 0x01 ‖ 0x00 ‖ nonce(24) ‖ crypto_box_easy(message, nonce, recipient_pk, sender_sk)
 *
 * The first byte is the envelope version; the second the kind, with Krypton's numbers
 * (0x02 sealed, 0x00 boxed). Any failure to open is reported as one code, `envelope_rejected`,
 * whatever the cause, so a peer learns nothing from the answer (details go to the local log).
 */
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url, decodeBase64urlBytes } from './base64url.js';
import type { Sodium } from './sodium.js';
import { randomBytes } from './random-bytes.js';

export const ENVELOPE_VERSION = 0x01;
/** The one table of envelope kinds. */
export const EnvelopeKind = { boxed: 0x00, sealed: 0x02 } as const;

export const NONCE_BYTES = 24;
export const BOX_MAC_BYTES = 16;
export const SEAL_OVERHEAD_BYTES = 48; // ephemeral pk 32 + MAC 16
export const PAIRING_OFFER_BYTES = 32 + 16;
export const SEALED_ENVELOPE_BYTES = 2 + SEAL_OVERHEAD_BYTES + PAIRING_OFFER_BYTES;
/** Relay limit is 64 KiB; the JSON inside may use what is left. */
export const MAX_ENVELOPE_BYTES = 65536;

export interface PairingOffer {
  /** Authenticator's X25519 public key for this pairing. */
  readonly authenticatorPublicKey: Uint8Array;
  /** The queue the authenticator reads for this pairing (its id, base64url of 16 bytes). */
  readonly authenticatorQueueId: string;
}

export function envelopeRejected(detail: string): LatchError {
  // `detail` is for the local log (err.cause); the peer-facing message never varies.
  return new LatchError('envelope_rejected', 'message could not be authenticated', { cause: detail });
}

export function sealPairingOffer(sodium: Sodium, offer: PairingOffer, computerPublicKey: Uint8Array): Uint8Array {
  if (offer.authenticatorPublicKey.length !== 32) throw new TypeError('authenticatorPublicKey must be 32 bytes');
  const queue = decodeBase64urlBytes(offer.authenticatorQueueId, 16, 'authenticator queue id');
  const plain = new Uint8Array(PAIRING_OFFER_BYTES);
  plain.set(offer.authenticatorPublicKey, 0);
  plain.set(queue, 32);
  const sealed = sodium.crypto_box_seal(plain, computerPublicKey);
  const out = new Uint8Array(2 + sealed.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = EnvelopeKind.sealed;
  out.set(sealed, 2);
  return out;
}

export function openPairingOffer(
  sodium: Sodium,
  envelope: Uint8Array,
  computerPublicKey: Uint8Array,
  computerSecretKey: Uint8Array,
): PairingOffer {
  checkHeader(envelope, EnvelopeKind.sealed);
  if (envelope.length !== SEALED_ENVELOPE_BYTES) throw envelopeRejected(`sealed envelope has ${envelope.length} bytes`);
  let plain: Uint8Array;
  try {
    plain = sodium.crypto_box_seal_open(envelope.subarray(2), computerPublicKey, computerSecretKey);
  } catch {
    throw envelopeRejected('sealed box did not open');
  }
  return {
    authenticatorPublicKey: plain.slice(0, 32),
    authenticatorQueueId: encodeBase64url(plain.subarray(32, 48)),
  };
}

export function boxMessage(
  sodium: Sodium,
  message: Uint8Array,
  nonce: Uint8Array,
  recipientPublicKey: Uint8Array,
  senderSecretKey: Uint8Array,
): Uint8Array {
  if (nonce.length !== NONCE_BYTES) throw new TypeError('nonce must be 24 bytes');
  return frameBoxed(nonce, sodium.crypto_box_easy(message, nonce, recipientPublicKey, senderSecretKey));
}

/** version ‖ kind ‖ nonce ‖ ciphertext (§4.2), within the envelope size limit. */
function frameBoxed(nonce: Uint8Array, cipher: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + NONCE_BYTES + cipher.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = EnvelopeKind.boxed;
  out.set(nonce, 2);
  out.set(cipher, 2 + NONCE_BYTES);
  if (out.length > MAX_ENVELOPE_BYTES) throw new LatchError('message_too_large', 'message does not fit in one envelope');
  return out;
}

/** A boxed envelope's nonce and ciphertext, once its header and length are checked. */
function boxedParts(envelope: Uint8Array): { nonce: Uint8Array; cipher: Uint8Array } {
  checkHeader(envelope, EnvelopeKind.boxed);
  if (envelope.length < 2 + NONCE_BYTES + BOX_MAC_BYTES + 1) throw envelopeRejected('boxed envelope too short');
  return { nonce: envelope.subarray(2, 2 + NONCE_BYTES), cipher: envelope.subarray(2 + NONCE_BYTES) };
}

/** Box with a fresh random nonce (24 random bytes make collisions negligible). */
export function boxMessageRandom(
  sodium: Sodium,
  message: Uint8Array,
  recipientPublicKey: Uint8Array,
  senderSecretKey: Uint8Array,
): Uint8Array {
  return boxMessage(sodium, message, randomBytes(NONCE_BYTES), recipientPublicKey, senderSecretKey);
}

export function openBoxedMessage(
  sodium: Sodium,
  envelope: Uint8Array,
  senderPublicKey: Uint8Array,
  recipientSecretKey: Uint8Array,
): Uint8Array {
  const { nonce, cipher } = boxedParts(envelope);
  try {
    return sodium.crypto_box_open_easy(cipher, nonce, senderPublicKey, recipientSecretKey);
  } catch {
    throw envelopeRejected('box did not open (altered, or from another key)');
  }
}

/**
 * The crypto_box shared key of a key pair and a peer's public key (crypto_box_beforenm: X25519,
 * then HSalsa20). boxMessage and openBoxedMessage derive it again for every message; a party that
 * talks to the same peer over and over derives it once and boxes with the two functions below,
 * which give the same bytes (issue 9: the X25519 step was ~0.15 ms of each of the four boxes and
 * opens of a sign round trip). The shared key is as secret as the secret key it comes from.
 */
export function boxSharedKey(sodium: Sodium, peerPublicKey: Uint8Array, ownSecretKey: Uint8Array): Uint8Array {
  return sodium.crypto_box_beforenm(peerPublicKey, ownSecretKey);
}

/** boxMessageRandom with a key from boxSharedKey: the same envelope format (§4.2). */
export function boxMessageShared(sodium: Sodium, message: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  return frameBoxed(nonce, sodium.crypto_box_easy_afternm(message, nonce, sharedKey));
}

/** openBoxedMessage with a key from boxSharedKey; fails exactly as it does. */
export function openBoxedMessageShared(sodium: Sodium, envelope: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  const { nonce, cipher } = boxedParts(envelope);
  try {
    return sodium.crypto_box_open_easy_afternm(cipher, nonce, sharedKey);
  } catch {
    throw envelopeRejected('box did not open (altered, or from another key)');
  }
}

/** The kind of an envelope, after checking its version. */
export function envelopeKind(envelope: Uint8Array): 'boxed' | 'sealed' {
  if (!(envelope instanceof Uint8Array)) throw new TypeError('envelope must be bytes');
  if (envelope.length < 2) throw envelopeRejected('envelope shorter than its header');
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new LatchError('unsupported_version', `envelope version ${envelope[0]} is not supported (this Latch speaks ${ENVELOPE_VERSION})`);
  }
  if (envelope[1] === EnvelopeKind.boxed) return 'boxed';
  if (envelope[1] === EnvelopeKind.sealed) return 'sealed';
  throw envelopeRejected(`unknown envelope kind ${envelope[1]}`);
}

function checkHeader(envelope: Uint8Array, kind: number): void {
  const k = envelopeKind(envelope);
  if (EnvelopeKind[k] !== kind) throw envelopeRejected(`expected envelope kind ${kind}, got ${EnvelopeKind[k]}`);
}
