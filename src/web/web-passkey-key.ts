/**
 * A passkey's key in the web authenticator (issue 11): one new WebCrypto key pair per
 * credential, NOT extractable, so no code path can read the private half out; the page can only
 * ask the browser to sign with it. ES256 is ECDSA P-256 (RFC 9053 §2.1); EdDSA is Ed25519
 * (RFC 9053 §2.2), which Chromium's WebCrypto has (shipped in Chromium 137, checked with Debian
 * Chromium 156), as do Firefox 129+ and Safari 17+. Browser-only (WebCrypto).
 */
import { LatchError } from '../util/latch-error.js';
import { COSE_EDDSA, COSE_ES256, type CoseAlgorithm } from '../protocol/webauthn/cose-key.js';

const params = (alg: CoseAlgorithm): EcKeyGenParams | Algorithm => (alg === COSE_ES256 ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'Ed25519' });

let ed25519: Promise<boolean> | undefined;
/** The algorithms this browser can make passkeys with: ES256 always, EdDSA where WebCrypto has Ed25519. */
export function webPasskeyAlgorithms(): Promise<readonly CoseAlgorithm[]> {
  ed25519 ??= crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign']).then(
    () => true,
    () => false,
  );
  return ed25519.then((has) => (has ? [COSE_ES256, COSE_EDDSA] : [COSE_ES256]));
}

/** A new key pair for one credential; `publicKey` is raw (65-byte uncompressed point, or 32 bytes for Ed25519). */
export async function generateWebPasskeyKey(alg: CoseAlgorithm): Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }> {
  let kp: CryptoKeyPair;
  try {
    kp = (await crypto.subtle.generateKey(params(alg), false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch (e) {
    throw new LatchError('webauthn_not_supported', `this browser cannot make ${alg === COSE_ES256 ? 'P-256' : 'Ed25519'} keys`, { cause: e });
  }
  // Only the public half is exported (always allowed for a public key, whatever `extractable` says).
  return { privateKey: kp.privateKey, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey)) };
}
