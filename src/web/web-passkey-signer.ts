/**
 * Signs a WebAuthn assertion with a web passkey's non-extractable WebCrypto key, and only after
 * the cross-protocol guard (issue 11; webauthn-sign-guard.ts): the data must be
 * `authenticatorData ‖ SHA-256(clientDataJSON)` for the passkey's own RP ID, so an SSH userauth
 * request, an SSHSIG blob or a Flow transaction is refused before the key is touched.
 *   ES256:  ECDSA P-256 with SHA-256 over the data. WebCrypto returns IEEE P1363 r‖s (WebCrypto
 *           §23.4 "ECDSA"); WebAuthn wants the ASN.1 DER Ecdsa-Sig-Value (L3 §6.5.5), re-encoded
 *           with @noble/curves, the same library the Node authenticator signs DER with.
 *   EdDSA:  Ed25519 over the data itself; the 64 raw bytes (RFC 8032) are what WebAuthn wants.
 * Browser-safe (WebCrypto is global in browsers and Node 20).
 */
import { p256 } from '@noble/curves/nist.js';
import { COSE_ES256 } from '../protocol/webauthn/cose-key.js';
import { checkWebauthnSignedData } from '../protocol/webauthn/webauthn-sign-guard.js';
import type { WebPasskey } from './web-store.js';

export async function webSignPasskeyAssertion(key: Pick<WebPasskey, 'rpId' | 'alg' | 'privateKey'>, data: Uint8Array): Promise<Uint8Array> {
  checkWebauthnSignedData(key.rpId, data);
  const bytes = new Uint8Array(data); // a copy on its own ArrayBuffer, as BufferSource wants
  if (key.alg === COSE_ES256) {
    const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, bytes));
    return p256.Signature.fromBytes(raw, 'compact').toBytes('der');
  }
  return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, bytes));
}
