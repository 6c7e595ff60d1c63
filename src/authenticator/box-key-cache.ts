/**
 * The crypto_box shared keys of an authenticator's pairings, derived once per pairing rather than
 * for every envelope opened and every answer boxed (issue 9: X25519 was ~0.15 ms of each).
 * Keyed by the pairing's own key texts, so a pairing whose keys change gets a fresh one; at most
 * `max` are kept. They live only in this process's memory, beside the keystore state they come
 * from. Browser-safe.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { boxSharedKey } from '../protocol/envelope.js';
import type { Sodium } from '../protocol/sodium.js';

export class BoxKeyCache {
  readonly #keys = new Map<string, Uint8Array>();

  constructor(
    private readonly sodium: Sodium,
    private readonly max = 64,
  ) {}

  /** The shared key of our secret key (base64url) with the peer's public key (base64url). */
  get(peerPublicKey: string, ownSecretKey: string): Uint8Array {
    const id = `${peerPublicKey}.${ownSecretKey}`;
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = boxSharedKey(this.sodium, decodeBase64url(peerPublicKey), decodeBase64url(ownSecretKey));
      if (this.#keys.size >= this.max) this.#keys.delete(this.#keys.keys().next().value!);
      this.#keys.set(id, key);
    }
    return key;
  }
}
