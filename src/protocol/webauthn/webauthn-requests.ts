/**
 * The request kinds `webauthn_create` and `webauthn_get` (PROTOCOL.md §5.9): their bodies and
 * results, and the strict parsers messages.ts runs for them. Binary fields are canonical
 * base64url. The computer sends the clientDataJSON bytes, never a hash: the authenticator parses
 * them, checks them against `rp_id` and hashes them itself (client-data.ts). Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { b64Field, checkKeys, jsonRecord, strField } from '../messages.js';
import { MAX_CLIENT_DATA_BYTES } from './client-data.js';
import { MAX_CREDENTIAL_ID_BYTES } from './authenticator-data.js';
import { MAX_LISTED_CREDENTIALS, MAX_TEXT_CHARS, type UserVerification } from './webauthn-options.js';

export interface WebauthnCreateBody {
  kind: 'webauthn_create';
  client_data: string;
  rp_id: string;
  rp_name: string;
  user_id: string;
  user_name: string;
  user_display_name: string;
  /** COSE algorithms the site accepts, in its order; the authenticator picks ES256, else EdDSA. */
  algorithms: number[];
  exclude: string[];
  user_verification: UserVerification;
  /** Which browser asks, as the computer knows it ("Chromium"); shown, never trusted. */
  browser: string;
}

export interface WebauthnGetBody {
  kind: 'webauthn_get';
  client_data: string;
  rp_id: string;
  /** Empty: a discoverable login (any credential of rp_id). */
  allow: string[];
  user_verification: UserVerification;
  browser: string;
}

export interface WebauthnCreateResult {
  credential_id: string;
  attestation_object: string;
}

export interface WebauthnGetResult {
  credential_id: string;
  authenticator_data: string;
  signature: string;
  user_handle: string;
}

const UV = ['required', 'preferred', 'discouraged'];

function bad(message: string): LatchError {
  return new LatchError('bad_message', message);
}

function uv(o: Record<string, unknown>, what: string): UserVerification {
  if (!UV.includes(o.user_verification as string)) throw bad(`${what}.user_verification must be required, preferred or discouraged`);
  return o.user_verification as UserVerification;
}

function idList(o: Record<string, unknown>, k: string, what: string): string[] {
  const v = o[k];
  if (!Array.isArray(v) || v.length > MAX_LISTED_CREDENTIALS) throw bad(`${what}.${k} must be a list of at most ${MAX_LISTED_CREDENTIALS} ids`);
  return v.map((_, i) => b64Field(v as unknown as Record<string, unknown>, String(i), `${what}.${k}`, MAX_CREDENTIAL_ID_BYTES));
}

function rpId(o: Record<string, unknown>, what: string): string {
  const v = strField(o, 'rp_id', what, 253);
  if (!/^[a-z0-9.-]{1,253}$/.test(v)) throw bad(`${what}.rp_id must be a lower-case domain name`);
  return v;
}

export function parseWebauthnCreateBody(o: Record<string, unknown>): WebauthnCreateBody {
  const what = 'webauthn_create';
  checkKeys(o, what, ['kind', 'client_data', 'rp_id', 'rp_name', 'user_id', 'user_name', 'user_display_name', 'algorithms', 'exclude', 'user_verification', 'browser']);
  const algs = o.algorithms;
  if (!Array.isArray(algs) || algs.length < 1 || algs.length > 16 || !algs.every((a) => Number.isSafeInteger(a))) {
    throw bad(`${what}.algorithms must be a list of 1 to 16 integers`);
  }
  return {
    kind: what,
    client_data: b64Field(o, 'client_data', what, MAX_CLIENT_DATA_BYTES),
    rp_id: rpId(o, what),
    rp_name: strField(o, 'rp_name', what, MAX_TEXT_CHARS),
    user_id: b64Field(o, 'user_id', what, 64),
    user_name: strField(o, 'user_name', what, MAX_TEXT_CHARS),
    user_display_name: strField(o, 'user_display_name', what, MAX_TEXT_CHARS),
    algorithms: algs as number[],
    exclude: idList(o, 'exclude', what),
    user_verification: uv(o, what),
    browser: strField(o, 'browser', what, 64),
  };
}

export function parseWebauthnGetBody(o: Record<string, unknown>): WebauthnGetBody {
  const what = 'webauthn_get';
  checkKeys(o, what, ['kind', 'client_data', 'rp_id', 'allow', 'user_verification', 'browser']);
  return {
    kind: what,
    client_data: b64Field(o, 'client_data', what, MAX_CLIENT_DATA_BYTES),
    rp_id: rpId(o, what),
    allow: idList(o, 'allow', what),
    user_verification: uv(o, what),
    browser: strField(o, 'browser', what, 64),
  };
}

export function parseWebauthnCreateResult(x: unknown): WebauthnCreateResult {
  const o = jsonRecord(x, 'webauthn_create result');
  checkKeys(o, 'webauthn_create result', ['credential_id', 'attestation_object']);
  return {
    credential_id: b64Field(o, 'credential_id', 'webauthn_create result', MAX_CREDENTIAL_ID_BYTES),
    attestation_object: b64Field(o, 'attestation_object', 'webauthn_create result', 4096),
  };
}

export function parseWebauthnGetResult(x: unknown): WebauthnGetResult {
  const o = jsonRecord(x, 'webauthn_get result');
  const what = 'webauthn_get result';
  checkKeys(o, what, ['credential_id', 'authenticator_data', 'signature', 'user_handle']);
  return {
    credential_id: b64Field(o, 'credential_id', what, MAX_CREDENTIAL_ID_BYTES),
    authenticator_data: b64Field(o, 'authenticator_data', what, 1024),
    signature: b64Field(o, 'signature', what, 128),
    user_handle: b64Field(o, 'user_handle', what, 64),
  };
}
