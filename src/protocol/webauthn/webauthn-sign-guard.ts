/**
 * The "no cross-protocol signing" rule for WebAuthn keys (issue 11): a credential key signs only
 * an assertion, `authenticatorData ‖ SHA-256(clientDataJSON)` (WebAuthn L3 §6.3.3 step 11), whose
 * authenticatorData is well formed, carries no attested credential, and names the credential's
 * own RP ID by its hash. An SSH userauth request, an SSHSIG blob or a Flow transaction never
 * has that shape under a real rpIdHash, so they are refused; and the SSH and custody guards
 * refuse this shape in turn. Pure; browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/curves/utils.js';
import { LatchError } from '../../util/latch-error.js';
import { parseAuthenticatorData } from './authenticator-data.js';

export function rpIdHash(rpId: string): Uint8Array {
  return sha256(new TextEncoder().encode(rpId));
}

export function checkWebauthnSignedData(rpId: string, data: Uint8Array): void {
  const refuse = (): LatchError => new LatchError('not_webauthn_data', 'refusing to sign: a passkey signs only a WebAuthn assertion for its own site');
  if (data.length < 37 + 32) throw refuse();
  let parsed;
  try {
    parsed = parseAuthenticatorData(data.subarray(0, data.length - 32));
  } catch {
    throw refuse();
  }
  if (parsed.attestedCredential || !parsed.flags.up || !equalBytes(parsed.rpIdHash, rpIdHash(rpId))) throw refuse();
}
