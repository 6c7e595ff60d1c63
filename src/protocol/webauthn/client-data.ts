/**
 * CollectedClientData (WebAuthn L3 §5.8.1): the JSON the browser (here: the Latch extension)
 * writes and the authenticator signs over as SHA-256(clientDataJSON). Latch's authenticator
 * never takes a hash from the computer: it re-parses these bytes, checks the type, the
 * challenge and the origin, checks the RP ID against that origin (rp-id.ts), and hashes them
 * itself. Serialisation follows §5.8.1.1 (type, challenge, origin, crossOrigin, then topOrigin
 * when crossOrigin); parsing accepts extra members, as §5.8.1.2 asks of readers.
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../base64url.js';
import { checkRpId, parseWebauthnOrigin } from './rp-id.js';

export type ClientDataType = 'webauthn.create' | 'webauthn.get';

export interface ClientData {
  type: ClientDataType;
  challenge: Uint8Array;
  origin: string;
  crossOrigin: boolean;
  topOrigin?: string;
}

/** Challenges Latch carries: at least 16 bytes (§13.4.3 asks RPs for 16 or more), at most 1024. */
export const MIN_CHALLENGE_BYTES = 16;
export const MAX_CHALLENGE_BYTES = 1024;
/** Largest clientDataJSON accepted (the request must fit one relay envelope). */
export const MAX_CLIENT_DATA_BYTES = 4096;

function bad(message: string): LatchError {
  return new LatchError('bad_client_data', message);
}

export function buildClientDataJSON(cd: ClientData): Uint8Array {
  const o: Record<string, unknown> = { type: cd.type, challenge: encodeBase64url(cd.challenge), origin: cd.origin, crossOrigin: cd.crossOrigin };
  if (cd.crossOrigin && cd.topOrigin !== undefined) o.topOrigin = cd.topOrigin;
  return new TextEncoder().encode(JSON.stringify(o));
}

export function parseClientDataJSON(bytes: Uint8Array): ClientData {
  if (bytes.length > MAX_CLIENT_DATA_BYTES) throw bad(`clientDataJSON is over ${MAX_CLIENT_DATA_BYTES} bytes`);
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('clientDataJSON is not UTF-8 JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('clientDataJSON must be an object');
  const r = o as Record<string, unknown>;
  if (r.type !== 'webauthn.create' && r.type !== 'webauthn.get') throw bad('clientDataJSON.type must be webauthn.create or webauthn.get');
  if (typeof r.challenge !== 'string') throw bad('clientDataJSON.challenge must be a string');
  let challenge: Uint8Array;
  try {
    challenge = decodeBase64url(r.challenge, 'clientDataJSON.challenge');
  } catch {
    throw bad('clientDataJSON.challenge must be base64url');
  }
  if (challenge.length < MIN_CHALLENGE_BYTES || challenge.length > MAX_CHALLENGE_BYTES) {
    throw bad(`the challenge must be ${MIN_CHALLENGE_BYTES} to ${MAX_CHALLENGE_BYTES} bytes`);
  }
  if (typeof r.origin !== 'string') throw bad('clientDataJSON.origin must be a string');
  const crossOrigin = r.crossOrigin ?? false;
  if (typeof crossOrigin !== 'boolean') throw bad('clientDataJSON.crossOrigin must be a boolean');
  const cd: ClientData = { type: r.type, challenge, origin: r.origin, crossOrigin };
  if (r.topOrigin !== undefined) {
    if (typeof r.topOrigin !== 'string' || !crossOrigin) throw bad('clientDataJSON.topOrigin is allowed only as a string with crossOrigin');
    cd.topOrigin = r.topOrigin;
  }
  return cd;
}

/**
 * What the authenticator checks before it shows or signs anything: the bytes parse, the type is
 * the ceremony asked for, the origin is https (or http on localhost), and the RP ID fits the
 * origin. Returns the parsed data.
 */
export function checkClientData(bytes: Uint8Array, expected: { type: ClientDataType; rpId: string }): ClientData {
  const cd = parseClientDataJSON(bytes);
  if (cd.type !== expected.type) throw bad(`clientDataJSON.type is ${cd.type}; ${expected.type} expected`);
  parseWebauthnOrigin(cd.origin);
  if (cd.topOrigin !== undefined) parseWebauthnOrigin(cd.topOrigin);
  checkRpId(expected.rpId, cd.origin);
  return cd;
}
