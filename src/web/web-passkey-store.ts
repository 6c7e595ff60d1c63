/**
 * The web authenticator's passkeys (issue 11) for the shared WebauthnCore
 * (src/authenticator/webauthn-core.ts): the `passkeys` IndexedDB record (web-store.ts), each
 * change one atomic `transact` (IndexedDB's readwrite transactions are the browser's keystore
 * lock, across tabs too); keys and signatures by WebCrypto (web-passkey-key.ts,
 * web-passkey-signer.ts). The core decides everything else, exactly as for `latch device`.
 * Browser-only.
 */
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { credentialInfo, newCredentialFacts, type WebauthnStore } from '../authenticator/webauthn-core.js';
import { generateWebPasskeyKey, webPasskeyAlgorithms } from './web-passkey-key.js';
import { webSignPasskeyAssertion } from './web-passkey-signer.js';
import type { WebPasskey, WebStore } from './web-store.js';

/** Most passkeys one web authenticator holds (as `latch device`). */
export const MAX_WEB_PASSKEYS = 256;

const gone = (): LatchError => new LatchError('no_credential', 'that passkey is no longer on this authenticator');

export function webPasskeyStore(store: WebStore, clock: () => number): WebauthnStore {
  const byId = async (id: Uint8Array): Promise<WebPasskey> => {
    const want = encodeBase64url(id);
    const p = ((await store.get('passkeys')) ?? []).find((x) => x.id === want);
    if (!p) throw gone();
    return p;
  };
  return {
    algorithms: webPasskeyAlgorithms,
    list: async (rpId) => ((await store.get('passkeys')) ?? []).filter((p) => p.rpId === rpId).map(credentialInfo),
    create: async (n) => {
      const id = crypto.getRandomValues(new Uint8Array(32));
      const key = await generateWebPasskeyKey(n.alg);
      const made: WebPasskey = { ...newCredentialFacts(n, id, key.publicKey, clock()), privateKey: key.privateKey };
      await store.transact('passkeys', (list) => {
        // A new credential for the same site and user replaces the old one (WebAuthn L3 §6.3.2 step 7).
        const kept = (list ?? []).filter((p) => !(p.rpId === made.rpId && p.userHandle === made.userHandle));
        if (kept.length >= MAX_WEB_PASSKEYS) throw new LatchError('too_many_passkeys', `this web authenticator holds at most ${MAX_WEB_PASSKEYS} passkeys; delete some on the Keys screen`);
        return { write: [...kept, made], value: undefined };
      });
      return { id, publicKey: { alg: n.alg, raw: key.publicKey } };
    },
    nextSignCount: (id) => {
      const want = encodeBase64url(id);
      return store.transact('passkeys', (list) => {
        const all = list ?? [];
        const p = all.find((x) => x.id === want);
        if (!p) throw gone();
        p.signCount += 1;
        p.lastUsedAt = clock();
        return { write: all, value: p.signCount };
      });
    },
    sign: async (id, data) => webSignPasskeyAssertion(await byId(id), data),
  };
}

/** Every passkey, for the Keys screen (public facts only). */
export async function listWebPasskeys(store: WebStore): Promise<WebPasskey[]> {
  return (await store.get('passkeys')) ?? [];
}

/** Forget a passkey and its key for good; false when it was not there. */
export function removeWebPasskey(store: WebStore, id: string): Promise<boolean> {
  return store.transact('passkeys', (list) => {
    const all = list ?? [];
    const kept = all.filter((p) => p.id !== id);
    return kept.length === all.length ? { value: false } : { write: kept, value: true };
  });
}
