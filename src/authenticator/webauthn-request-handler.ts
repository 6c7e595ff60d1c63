/**
 * `latch device`'s side of `webauthn_create` and `webauthn_get` (issue 11): the shared
 * WebauthnCore over the encrypted keystore file. Keys are made with @noble/curves (P-256 for
 * ES256, Ed25519 for EdDSA), one per credential, and signed with only after the WebAuthn guard
 * (webauthn-sign-guard.ts): a passkey signs an assertion for its own RP ID and nothing else.
 * Node only (the keystore).
 */
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '@noble/curves/utils.js';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { COSE_ES256 } from '../protocol/webauthn/cose-key.js';
import { checkWebauthnSignedData } from '../protocol/webauthn/webauthn-sign-guard.js';
import type { Keystore } from './keystore.js';
import type { AuthenticatorState, StoredWebauthnCredential } from './authenticator-state.js';
import { WebauthnCore, credentialInfo, newCredentialFacts, type WebauthnStore } from './webauthn-core.js';
import type { Approver } from './sign-review.js';

/** Most passkeys one authenticator holds. */
export const MAX_WEBAUTHN_CREDENTIALS = 256;

function find(s: AuthenticatorState, id: Uint8Array): StoredWebauthnCredential {
  const c = (s.webauthnCredentials ?? []).find((x) => equalBytes(decodeBase64url(x.id), id));
  if (!c) throw new LatchError('no_credential', 'that passkey is no longer on this authenticator');
  return c;
}

/** Sign an assertion with a stored credential, after the cross-protocol guard. */
export function signWebauthnAssertion(c: StoredWebauthnCredential, data: Uint8Array): Uint8Array {
  checkWebauthnSignedData(c.rpId, data);
  const secret = decodeBase64url(c.secret, 'passkey secret');
  try {
    // ES256: ECDSA over SHA-256(data), DER-encoded as WebAuthn requires (L3 §6.5.5).
    return c.alg === COSE_ES256 ? p256.sign(data, secret, { format: 'der' }) : ed25519.sign(data, secret);
  } finally {
    secret.fill(0);
  }
}

export function keystoreWebauthnStore(keystore: Keystore, clock: () => number): WebauthnStore {
  return {
    list: async (rpId) => {
      keystore.reloadIfChanged(); // see credentials removed by `latch device passkey remove`
      return (keystore.state.webauthnCredentials ?? []).filter((c) => c.rpId === rpId).map(credentialInfo);
    },
    create: async (n) => {
      const id = crypto.getRandomValues(new Uint8Array(32));
      const secret = n.alg === COSE_ES256 ? p256.utils.randomSecretKey() : ed25519.utils.randomSecretKey();
      const raw = n.alg === COSE_ES256 ? p256.getPublicKey(secret, false) : ed25519.getPublicKey(secret);
      const stored: StoredWebauthnCredential = { ...newCredentialFacts(n, id, raw, clock()), secret: encodeBase64url(secret) };
      secret.fill(0);
      await keystore.update((s) => {
        const kept = (s.webauthnCredentials ?? []).filter((c) => !(c.rpId === n.rpId && c.userHandle === stored.userHandle));
        if (kept.length >= MAX_WEBAUTHN_CREDENTIALS) throw new LatchError('too_many_passkeys', `an authenticator holds at most ${MAX_WEBAUTHN_CREDENTIALS} passkeys; remove some with \`latch device passkey remove\``);
        s.webauthnCredentials = [...kept, stored];
      });
      return { id, publicKey: { alg: n.alg, raw } };
    },
    nextSignCount: (id) =>
      keystore.update((s) => {
        const c = find(s, id);
        c.signCount += 1;
        c.lastUsedAt = clock();
        return c.signCount;
      }),
    sign: async (id, data) => signWebauthnAssertion(find(keystore.state, id), data),
  };
}

export function keystoreWebauthnCore(keystore: Keystore, approver: Approver, log: (line: string) => void, clock: () => number): WebauthnCore {
  return new WebauthnCore({ store: keystoreWebauthnStore(keystore, clock), approver, log, clock });
}
