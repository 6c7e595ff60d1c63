/**
 * The attestation object (WebAuthn L3 §6.5.4) with the "none" format (§8.7): a CBOR map
 * {"fmt": "none", "attStmt": {}, "authData": bytes}, keys in CTAP2 canonical order. Latch
 * always sends "none": it has no attestation certificate, and the AAGUID names the product.
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { cborBytes, cborMap, decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { parseAuthenticatorData, type AuthenticatorData } from './authenticator-data.js';

export function buildNoneAttestationObject(authData: Uint8Array): Uint8Array {
  return encodeCbor(
    new Map<CborValue, CborValue>([
      ['fmt', 'none'],
      ['attStmt', new Map()],
      ['authData', authData],
    ]),
  );
}

export interface ParsedAttestationObject {
  fmt: string;
  authData: Uint8Array;
  parsed: AuthenticatorData;
}

/** Parse an attestation object; only "none" with an empty statement is accepted here. */
export function parseNoneAttestationObject(bytes: Uint8Array): ParsedAttestationObject {
  const map = cborMap(decodeCbor(bytes, 'attestation object'), 'attestation object');
  if (map.size !== 3 || map.get('fmt') !== 'none') throw new LatchError('bad_attestation', 'attestation object must be {fmt: "none", attStmt: {}, authData}');
  const stmt = cborMap(map.get('attStmt') ?? null, 'attStmt');
  if (stmt.size !== 0) throw new LatchError('bad_attestation', 'a "none" attestation statement must be empty');
  const authData = cborBytes(map.get('authData'), 'authData');
  const parsed = parseAuthenticatorData(authData);
  if (!parsed.attestedCredential) throw new LatchError('bad_attestation', 'authData carries no attested credential');
  return { fmt: 'none', authData, parsed };
}
