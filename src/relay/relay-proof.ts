/**
 * Reader proofs for relay queues (PROTOCOL.md §3.2). Only the holder of the Ed25519 key
 * whose hash names a queue may read, ack, close or subscribe to it; the proof binds
 * the method, the path, a timestamp and the request body, so a captured header cannot
 * be replayed on another queue or route, only for a short window on the same one, and
 * never with another body (a captured ack header cannot delete other message ids).
 *
 *   Latch-Auth: v1 <pk base64url> <unix_seconds> <sig base64url>
 *   sig = Ed25519("latch-relay-auth-v1\n" + METHOD + "\n" + PATHNAME + "\n" + unix_seconds
 *                 + "\n" + base64url(SHA-256(body bytes)))
 * The body is empty for GET and for the WebSocket SUBSCRIBE proof.
 *
 * Pure and browser-safe: the client signs with it and the server verifies with it.
 */
import { decodeBase64urlBytes, encodeBase64url } from '../protocol/base64url.js';
import { queueIdFromPublicKey, type QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';

export const RELAY_AUTH_DOMAIN = 'latch-relay-auth-v1';
export const RELAY_AUTH_HEADER = 'latch-auth';
/** Allowed clock difference between the reader and the relay (PROTOCOL.md §3.2). */
export const RELAY_PROOF_MAX_SKEW_SECONDS = 300;
/** The one message every proof failure gets; the reason goes to the server log only. */
export const RELAY_AUTH_FAILED_MESSAGE = 'relay authentication failed';

const METHOD_PATTERN = /^[A-Z]{1,16}$/;
// Decimal seconds, no sign, no leading zeros, at most 12 digits (year ~33658).
const SECONDS_PATTERN = /^(0|[1-9][0-9]{0,11})$/;

const EMPTY_BODY = new Uint8Array(0);

/** base64url(SHA-256(body)): the fifth line of the signed text (PROTOCOL.md §3.2). */
export function relayProofBodyHash(sodium: Sodium, body: Uint8Array): string {
  if (!(body instanceof Uint8Array)) throw new TypeError('proof body must be a Uint8Array');
  return encodeBase64url(sodium.crypto_hash_sha256(body));
}

export function relayProofText(method: string, pathname: string, unixSeconds: number, bodyHash: string): string {
  if (!METHOD_PATTERN.test(method)) throw new TypeError('proof method must be upper-case letters');
  if (typeof pathname !== 'string' || !pathname.startsWith('/')) throw new TypeError('proof pathname must start with /');
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) throw new TypeError('proof time must be a non-negative integer');
  if (typeof bodyHash !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(bodyHash)) throw new TypeError('proof body hash must be 43 base64url characters');
  return `${RELAY_AUTH_DOMAIN}\n${method}\n${pathname}\n${unixSeconds}\n${bodyHash}`;
}

/**
 * Returns the header value (without the header name): `v1 <pk> <ts> <sig>`. `body` must be
 * the exact bytes sent (empty, the default, for GET and SUBSCRIBE).
 */
export function signRelayProof(
  sodium: Sodium,
  key: QueueKeyPair,
  method: string,
  pathname: string,
  unixSeconds: number,
  body: Uint8Array = EMPTY_BODY,
): string {
  if (!(key.secretKey instanceof Uint8Array) || key.secretKey.length !== 64) {
    throw new TypeError('queue secret key must be 64 bytes (libsodium Ed25519 form)');
  }
  if (!(key.publicKey instanceof Uint8Array) || key.publicKey.length !== 32) {
    throw new TypeError('queue public key must be 32 bytes');
  }
  const text = new TextEncoder().encode(relayProofText(method, pathname, unixSeconds, relayProofBodyHash(sodium, body)));
  const sig = sodium.crypto_sign_detached(text, key.secretKey);
  return `v1 ${encodeBase64url(key.publicKey)} ${unixSeconds} ${encodeBase64url(sig)}`;
}

export interface ParsedRelayProof {
  readonly publicKey: Uint8Array;
  readonly unixSeconds: number;
  readonly signature: Uint8Array;
}

export type ProofCheck = { ok: true } | { ok: false; reason: string };

/** Strict parse: exactly four single-space-separated fields, version v1, canonical base64url. */
export function parseRelayProof(text: unknown): ParsedRelayProof | { error: string } {
  if (typeof text !== 'string') return { error: 'missing proof' };
  if (text.length > 256) return { error: 'proof too long' };
  const parts = text.split(' ');
  if (parts.length !== 4) return { error: 'proof must have 4 fields' };
  const [version, pkText, tsText, sigText] = parts as [string, string, string, string];
  if (version !== 'v1') return { error: 'unknown proof version' };
  if (!SECONDS_PATTERN.test(tsText)) return { error: 'bad proof time' };
  try {
    const publicKey = decodeBase64urlBytes(pkText, 32, 'proof public key');
    const signature = decodeBase64urlBytes(sigText, 64, 'proof signature');
    return { publicKey, unixSeconds: Number(tsText), signature };
  } catch (e) {
    return { error: e instanceof Error ? e.message : 'bad proof encoding' };
  }
}

/**
 * `expected.body` is the raw request body as received (empty for GET and SUBSCRIBE); it is
 * required so that no route can forget to bind it.
 */
export function verifyRelayProof(
  sodium: Sodium,
  header: unknown,
  expected: { method: string; pathname: string; queueId: string; nowSeconds: number; body: Uint8Array },
): ProofCheck {
  const parsed = parseRelayProof(header);
  if ('error' in parsed) return { ok: false, reason: parsed.error };
  if (queueIdFromPublicKey(sodium, parsed.publicKey) !== expected.queueId) {
    return { ok: false, reason: 'key does not own this queue' };
  }
  if (Math.abs(parsed.unixSeconds - expected.nowSeconds) > RELAY_PROOF_MAX_SKEW_SECONDS) {
    return { ok: false, reason: `proof time off by ${parsed.unixSeconds - expected.nowSeconds} s` };
  }
  const bodyHash = relayProofBodyHash(sodium, expected.body);
  const text = new TextEncoder().encode(relayProofText(expected.method, expected.pathname, parsed.unixSeconds, bodyHash));
  let valid = false;
  try {
    valid = sodium.crypto_sign_verify_detached(parsed.signature, text, parsed.publicKey);
  } catch {
    valid = false; // libsodium throws on some malformed keys; that is just "invalid"
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad signature' };
}
