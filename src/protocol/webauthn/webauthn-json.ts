/**
 * The JSON shapes a page gets back (WebAuthn L3 §5.1: RegistrationResponseJSON,
 * AuthenticationResponseJSON, what PublicKeyCredential.toJSON() returns), built from the
 * authenticator's answer. The page script turns them into PublicKeyCredential-shaped objects
 * with ArrayBuffers. Pure; browser-safe.
 */
import { decodeBase64url, encodeBase64url } from '../base64url.js';
import { parseNoneAttestationObject } from './attestation-object.js';
import { spkiFromPublicKey } from './cose-key.js';
import type { WebauthnCreateResult, WebauthnGetResult } from './webauthn-requests.js';

export interface RegistrationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'cross-platform';
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData: string;
    publicKey: string;
    publicKeyAlgorithm: number;
    transports: string[];
  };
  clientExtensionResults: Record<string, unknown>;
}

export interface AuthenticationResponseJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: 'cross-platform';
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    signature: string;
    userHandle: string;
  };
  clientExtensionResults: Record<string, unknown>;
}

/** `credProps` (§10.1.3) is the one extension answered: every Latch credential is discoverable. */
export function registrationResponseJSON(clientData: Uint8Array, r: WebauthnCreateResult, wantsCredProps: boolean): RegistrationResponseJSON {
  const att = parseNoneAttestationObject(decodeBase64url(r.attestation_object));
  const cred = att.parsed.attestedCredential!;
  const id = encodeBase64url(cred.credentialId);
  return {
    id,
    rawId: id,
    type: 'public-key',
    authenticatorAttachment: 'cross-platform',
    response: {
      clientDataJSON: encodeBase64url(clientData),
      attestationObject: r.attestation_object,
      authenticatorData: encodeBase64url(att.authData),
      publicKey: encodeBase64url(spkiFromPublicKey(cred.publicKey)),
      publicKeyAlgorithm: cred.publicKey.alg,
      transports: [],
    },
    clientExtensionResults: wantsCredProps ? { credProps: { rk: true } } : {},
  };
}

export function authenticationResponseJSON(clientData: Uint8Array, r: WebauthnGetResult): AuthenticationResponseJSON {
  return {
    id: r.credential_id,
    rawId: r.credential_id,
    type: 'public-key',
    authenticatorAttachment: 'cross-platform',
    response: { clientDataJSON: encodeBase64url(clientData), authenticatorData: r.authenticator_data, signature: r.signature, userHandle: r.user_handle },
    clientExtensionResults: {},
  };
}
