/**
 * authenticatorData (WebAuthn L3 §6.1):
 *   rpIdHash(32) ‖ flags(1) ‖ signCount(uint32 BE) ‖ [attestedCredentialData] ‖ [extensions CBOR]
 *   attestedCredentialData (§6.5.2) = aaguid(16) ‖ credentialIdLength(uint16 BE) ‖ credentialId ‖ COSE key
 * Flags: bit 0 UP, bit 2 UV, bit 3 BE, bit 4 BS, bit 6 AT, bit 7 ED; bits 1 and 5 are reserved.
 * Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { decodeCborFirst, cborMap } from './cbor.js';
import { encodeCoseKey, parseCoseKey, type PublicKey } from './cose-key.js';

export interface AuthenticatorFlags {
  up: boolean;
  uv: boolean;
  be: boolean;
  bs: boolean;
}

export interface AttestedCredential {
  aaguid: Uint8Array;
  credentialId: Uint8Array;
  publicKey: PublicKey;
}

export interface AuthenticatorData {
  rpIdHash: Uint8Array;
  flags: AuthenticatorFlags;
  signCount: number;
  attestedCredential?: AttestedCredential;
}

const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;
const ED = 0x80;
const RESERVED = 0x22;

/** §6.5.1: credential ids are at most 1023 bytes. */
export const MAX_CREDENTIAL_ID_BYTES = 1023;

function bad(message: string): LatchError {
  return new LatchError('bad_authenticator_data', message);
}

export function buildAuthenticatorData(d: AuthenticatorData): Uint8Array {
  if (d.rpIdHash.length !== 32) throw new TypeError('rpIdHash must be 32 bytes');
  if (!Number.isInteger(d.signCount) || d.signCount < 0 || d.signCount > 0xffffffff) throw new TypeError('signCount must be a uint32');
  // §6.1.3: BS may be set only when BE is.
  if (d.flags.bs && !d.flags.be) throw new TypeError('BS requires BE');
  let flags = (d.flags.up ? UP : 0) | (d.flags.uv ? UV : 0) | (d.flags.be ? BE : 0) | (d.flags.bs ? BS : 0);
  let attested = new Uint8Array(0);
  if (d.attestedCredential) {
    const { aaguid, credentialId, publicKey } = d.attestedCredential;
    if (aaguid.length !== 16) throw new TypeError('aaguid must be 16 bytes');
    if (credentialId.length < 1 || credentialId.length > MAX_CREDENTIAL_ID_BYTES) throw new TypeError('credential id must be 1..1023 bytes');
    const cose = encodeCoseKey(publicKey);
    attested = new Uint8Array(18 + credentialId.length + cose.length);
    attested.set(aaguid);
    attested[16] = credentialId.length >> 8;
    attested[17] = credentialId.length & 0xff;
    attested.set(credentialId, 18);
    attested.set(cose, 18 + credentialId.length);
    flags |= AT;
  }
  const out = new Uint8Array(37 + attested.length);
  out.set(d.rpIdHash);
  out[32] = flags;
  new DataView(out.buffer).setUint32(33, d.signCount, false);
  out.set(attested, 37);
  return out;
}

/** Parse strictly: AT and ED must match what follows, and nothing may be left over. */
export function parseAuthenticatorData(bytes: Uint8Array): AuthenticatorData & { extensions?: Uint8Array } {
  if (bytes.length < 37) throw bad(`authenticatorData is ${bytes.length} bytes; at least 37 expected`);
  const flags = bytes[32]!;
  if (flags & RESERVED) throw bad('authenticatorData sets reserved flag bits');
  const out: AuthenticatorData & { extensions?: Uint8Array } = {
    rpIdHash: bytes.slice(0, 32),
    flags: { up: (flags & UP) !== 0, uv: (flags & UV) !== 0, be: (flags & BE) !== 0, bs: (flags & BS) !== 0 },
    signCount: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(33, false),
  };
  if (out.flags.bs && !out.flags.be) throw bad('authenticatorData sets BS without BE');
  let rest = bytes.subarray(37);
  if (flags & AT) {
    if (rest.length < 18) throw bad('attestedCredentialData is truncated');
    const idLength = (rest[16]! << 8) | rest[17]!;
    if (idLength < 1 || idLength > MAX_CREDENTIAL_ID_BYTES || rest.length < 18 + idLength) throw bad('credential id length is out of range');
    const aaguid = rest.slice(0, 16);
    const credentialId = rest.slice(18, 18 + idLength);
    const [cose, after] = decodeCborFirst(rest.subarray(18 + idLength), 'credential public key');
    out.attestedCredential = { aaguid, credentialId, publicKey: parseCoseKey(cose) };
    rest = after;
  }
  if (flags & ED) {
    const [ext, after] = decodeCborFirst(rest, 'authenticator extensions');
    cborMap(ext, 'authenticator extensions');
    out.extensions = rest.slice(0, rest.length - after.length);
    rest = after;
  }
  if (rest.length !== 0) throw bad(`authenticatorData has ${rest.length} trailing bytes`);
  return out;
}
