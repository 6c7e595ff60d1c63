/** Queue keys and reader proofs for relay tests. */
import { queueIdFromPublicKey, type QueueKeyPair } from '../../src/protocol/queue-id.js';
import { sodiumReady } from '../../src/protocol/sodium.js';
import { signRelayProof } from '../../src/relay/relay-proof.js';

export interface TestQueue extends QueueKeyPair {
  id: string;
  /** Latch-Auth header value for METHOD and PATHNAME at `ts` (default now). */
  proof(method: string, pathname: string, ts?: number): string;
}

export async function newQueue(): Promise<TestQueue> {
  const sodium = await sodiumReady();
  const kp = sodium.crypto_sign_keypair();
  const id = queueIdFromPublicKey(sodium, kp.publicKey);
  return {
    publicKey: kp.publicKey,
    secretKey: kp.privateKey,
    id,
    proof: (method, pathname, ts = Math.floor(Date.now() / 1000)) =>
      signRelayProof(sodium, { publicKey: kp.publicKey, secretKey: kp.privateKey }, method, pathname, ts),
  };
}

export function octets(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
