/**
 * libsodium, initialised once. The sumo build is used because it carries
 * crypto_pwhash (Argon2id) and Ed25519 alongside the box primitives, and it runs
 * unchanged in Node and in browsers (the web authenticator shares this module).
 */
import _sodium from 'libsodium-wrappers-sumo';

export type Sodium = typeof _sodium;

let readyPromise: Promise<Sodium> | undefined;

export function sodiumReady(): Promise<Sodium> {
  readyPromise ??= _sodium.ready.then(() => _sodium);
  return readyPromise;
}
