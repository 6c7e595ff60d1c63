/**
 * The custody device key in the browser (docs/CUSTODY.md "Keys at rest, key separation"): a
 * WebCrypto ECDSA P-256 key made with `extractable: false`, so no code path can read the private
 * key out, only ask the browser to sign with it. Flow calls this ECDSA_P256 with SHA2_256: Flow
 * hashes the domain-tagged message with SHA-256 and signs the digest, which is exactly what
 * `crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, message)` does, and WebCrypto
 * returns the IEEE P1363 form r‖s (32 bytes each), Flow's signature format.
 *
 * Before signing, the same key-separation check as `latch device`'s key
 * (classifyCustodyMessage): only Flow transaction messages, Latch login challenges and notice
 * inbox registrations.
 * Browser-only (WebCrypto; IndexedDB keeps the CryptoKey as it is).
 */
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { classifyCustodyMessage, type CustodySigner } from '../authenticator/custody-device-key.js';

/** The order of P-256 (SEC 2 §2.4.2), for the low-S form. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export interface WebCustodyKey {
  deviceKey: CryptoKey;
  /** X‖Y hex, the Flow account key form. */
  devicePublicKey: string;
}

export async function createWebCustodyKey(): Promise<WebCustodyKey> {
  const kp = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  // Public keys are always exportable; the raw form is 0x04 ‖ X ‖ Y (SEC 1 §2.3.3).
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
  if (raw.length !== 65 || raw[0] !== 4) throw new TypeError('unexpected P-256 public key form');
  return { deviceKey: kp.privateKey, devicePublicKey: bytesToHex(raw.subarray(1)) };
}

/**
 * Low-S, as the Node signers emit (flow-signer.ts, flow-ecdsa-node.ts): Flow accepts either
 * half, but one form everywhere keeps signatures comparable.
 */
export function lowS(sig: Uint8Array): Uint8Array {
  if (sig.length !== 64) throw new TypeError('a P-256 signature is 64 bytes');
  const s = BigInt('0x' + bytesToHex(sig.subarray(32)));
  if (s <= P256_N >> 1n) return sig;
  const out = new Uint8Array(sig);
  out.set(hexToBytes((P256_N - s).toString(16).padStart(64, '0')), 32);
  return out;
}

export function webCustodySigner(key: WebCustodyKey): CustodySigner {
  if (!(key.deviceKey instanceof CryptoKey) || key.deviceKey.type !== 'private') throw new TypeError('deviceKey must be a private CryptoKey');
  return {
    publicKey: key.devicePublicKey,
    async sign(message) {
      classifyCustodyMessage(message); // throws LatchError('refused_message') for anything else
      const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.deviceKey, message as Uint8Array<ArrayBuffer>));
      return lowS(sig);
    },
  };
}
