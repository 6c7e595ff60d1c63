/**
 * The options a page passes to navigator.credentials.create/get, in their JSON form
 * (WebAuthn L3 §5.1.3 PublicKeyCredentialCreationOptionsJSON, §5.1.4
 * PublicKeyCredentialRequestOptionsJSON: binary fields as base64url), checked as the spec's
 * client steps check them, with the spec's exception for each (webauthn-errors.ts):
 *   - user.id not 1..64 bytes: TypeError (§5.1.3 step 5);
 *   - no supported public-key algorithm: NotSupportedError (§5.1.3 step 10; an empty list means
 *     ES256 and RS256, so ES256);
 *   - a malformed member: TypeError (WebIDL conversion).
 * Latch's own limit: a challenge of 16 to 1024 bytes (§13.4.3 asks for at least 16; 1024 keeps
 * a request inside one relay envelope), else TypeError. Browser-safe and free of the Public
 * Suffix List, so the page script can run it before anything leaves the page.
 */
import { LatchError } from '../../util/latch-error.js';
import { decodeBase64url } from '../base64url.js';
import { MAX_CHALLENGE_BYTES, MIN_CHALLENGE_BYTES } from './client-data.js';
import { MAX_CREDENTIAL_ID_BYTES } from './authenticator-data.js';
import { COSE_ES256, chooseAlgorithm, type CoseAlgorithm } from './cose-key.js';

export type UserVerification = 'required' | 'preferred' | 'discouraged';

export interface CreateOptions {
  /** Undefined: the origin's host (the spec's default). */
  rpId?: string;
  rpName: string;
  userId: Uint8Array;
  userName: string;
  userDisplayName: string;
  challenge: Uint8Array;
  algorithm: CoseAlgorithm;
  /** The acceptable algorithms offered, in the site's order (what the authenticator chooses from). */
  algorithms: CoseAlgorithm[];
  excludeIds: Uint8Array[];
  userVerification: UserVerification;
  timeoutMs?: number;
}

export interface GetOptions {
  rpId?: string;
  challenge: Uint8Array;
  allowIds: Uint8Array[];
  userVerification: UserVerification;
  timeoutMs?: number;
}

/** Most credentials listed in excludeCredentials / allowCredentials. */
export const MAX_LISTED_CREDENTIALS = 64;
/** Longest rp.name, user.name, user.displayName accepted (authenticators store 64 bytes, §6.4.1). */
export const MAX_TEXT_CHARS = 256;

function typeError(message: string): LatchError {
  return new LatchError('webauthn_type_error', message);
}

type Json = Record<string, unknown>;

function obj(x: unknown, what: string): Json {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw typeError(`${what} must be an object`);
  return x as Json;
}

function text(x: unknown, what: string, optional = false): string | undefined {
  if (x === undefined && optional) return undefined;
  if (typeof x !== 'string') throw typeError(`${what} must be a string`);
  if (x.length > MAX_TEXT_CHARS) throw typeError(`${what} is over ${MAX_TEXT_CHARS} characters`);
  return x;
}

function bytes(x: unknown, what: string, min: number, max: number): Uint8Array {
  if (typeof x !== 'string' || x.length > Math.ceil((max * 4) / 3) + 4) throw typeError(`${what} must be base64url of ${min} to ${max} bytes`);
  let b: Uint8Array;
  try {
    b = decodeBase64url(x, what);
  } catch {
    throw typeError(`${what} must be base64url`);
  }
  if (b.length < min || b.length > max) throw typeError(`${what} must be ${min} to ${max} bytes, not ${b.length}`);
  return b;
}

function challenge(x: unknown): Uint8Array {
  return bytes(x, 'challenge', MIN_CHALLENGE_BYTES, MAX_CHALLENGE_BYTES);
}

function timeout(x: unknown): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw typeError('timeout must be a non-negative number');
  return Math.floor(x);
}

function userVerification(x: unknown): UserVerification {
  if (x === undefined) return 'preferred';
  // §5.4.6: an unknown value is ignored (treated as the default), for forward compatibility.
  return x === 'required' || x === 'discouraged' || x === 'preferred' ? x : 'preferred';
}

/** Credential descriptors (§5.8.3): entries of another type are ignored; ids must be 1..1023 bytes. */
function descriptors(x: unknown, what: string): Uint8Array[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) throw typeError(`${what} must be a list`);
  if (x.length > MAX_LISTED_CREDENTIALS) throw typeError(`${what} lists more than ${MAX_LISTED_CREDENTIALS} credentials`);
  const out: Uint8Array[] = [];
  x.forEach((d, i) => {
    const o = obj(d, `${what}[${i}]`);
    if (typeof o.type !== 'string') throw typeError(`${what}[${i}].type must be a string`);
    if (o.type !== 'public-key') return;
    out.push(bytes(o.id, `${what}[${i}].id`, 1, MAX_CREDENTIAL_ID_BYTES));
  });
  return out;
}

export function parseCreateOptions(x: unknown): CreateOptions {
  const o = obj(x, 'publicKey');
  const rp = obj(o.rp, 'rp');
  const user = obj(o.user, 'user');
  // §5.1.3 step 5 comes before anything else is looked at.
  const userId = bytes(user.id, 'user.id', 1, 64);
  const params = o.pubKeyCredParams;
  if (!Array.isArray(params) || params.length > 64) throw typeError('pubKeyCredParams must be a list');
  const offered: number[] = [];
  for (const [i, p] of params.entries()) {
    const po = obj(p, `pubKeyCredParams[${i}]`);
    if (typeof po.type !== 'string' || typeof po.alg !== 'number' || !Number.isInteger(po.alg)) throw typeError(`pubKeyCredParams[${i}] must have a type and an integer alg`);
    if (po.type === 'public-key') offered.push(po.alg);
  }
  // §5.1.3 step 10: an empty list means ES256 and RS256.
  const algorithms = (params.length === 0 ? [COSE_ES256] : offered).filter((a): a is CoseAlgorithm => chooseAlgorithm([a]) !== undefined);
  const algorithm = chooseAlgorithm(algorithms);
  if (algorithm === undefined) throw new LatchError('webauthn_not_supported', 'none of the offered algorithms is supported (ES256 -7, EdDSA -8)');
  const sel = o.authenticatorSelection === undefined ? {} : obj(o.authenticatorSelection, 'authenticatorSelection');
  const out: CreateOptions = {
    rpName: text(rp.name, 'rp.name')!,
    userId,
    userName: text(user.name, 'user.name')!,
    userDisplayName: text(user.displayName, 'user.displayName')!,
    challenge: challenge(o.challenge),
    algorithm,
    algorithms,
    excludeIds: descriptors(o.excludeCredentials, 'excludeCredentials'),
    userVerification: userVerification(sel.userVerification),
  };
  const rpId = text(rp.id, 'rp.id', true);
  if (rpId !== undefined) out.rpId = rpId;
  const t = timeout(o.timeout);
  if (t !== undefined) out.timeoutMs = t;
  return out;
}

export function parseGetOptions(x: unknown): GetOptions {
  const o = obj(x, 'publicKey');
  const out: GetOptions = {
    challenge: challenge(o.challenge),
    allowIds: descriptors(o.allowCredentials, 'allowCredentials'),
    userVerification: userVerification(o.userVerification),
  };
  const rpId = text(o.rpId, 'rpId', true);
  if (rpId !== undefined) out.rpId = rpId;
  const t = timeout(o.timeout);
  if (t !== undefined) out.timeoutMs = t;
  return out;
}

/** The timeout the client enforces (§5.1.3 step 3 / §15.1 recommends 5 to 10 minutes, default 5). */
export function clampTimeoutMs(ms: number | undefined): number {
  if (ms === undefined) return 300_000;
  return Math.min(Math.max(ms, 15_000), 600_000);
}
