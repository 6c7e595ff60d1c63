/**
 * The agent's check of every signature the authenticator returns, before ssh sees it (docs/AGENT.md).
 * Ed25519 keys are checked with node:crypto, synchronously, with the key imported once: the
 * WebCrypto path (verifySshSignature) imports the key and runs the verify as an asynchronous job
 * in the thread pool, ~1 ms per sign on the loaded 2-core bench machine against ~0.1-0.2 ms here
 * (issue 9). Other key types take verifySshSignature as before.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { parseSshPublicKey } from '../protocol/ssh/ssh-public-key.js';
import { parseSshSignature, verifySshSignature } from '../protocol/ssh/ssh-signature.js';

const MAX_KEYS = 64;
const keys = new Map<string, KeyObject>();

function ed25519Key(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw).toString('base64url');
  let key = keys.get(id);
  if (key === undefined) {
    // A raw Ed25519 key as a JWK (RFC 8037 §2): node:crypto builds the SPKI itself.
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: id }, format: 'jwk' });
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!);
    keys.set(id, key);
  }
  return key;
}

/** Whether `sigBlob` is a valid SSH signature by `keyBlob` over `data`. */
export async function checkAnswerSignature(keyBlob: Uint8Array, sigBlob: Uint8Array, data: Uint8Array): Promise<boolean> {
  const key = parseSshPublicKey(keyBlob);
  if (key.type !== 'ssh-ed25519') return verifySshSignature(keyBlob, sigBlob, data);
  const sig = parseSshSignature(sigBlob);
  if (sig.algorithm !== 'ssh-ed25519') return false;
  return verify(null, data, ed25519Key(key.publicKey), sig.signature);
}
