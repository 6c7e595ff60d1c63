/**
 * The custody device key: P-256 with SHA2-256, as a phone's secure element would hold it.
 * Key separation (issue 4): it signs exactly three kinds of message, each under its own
 * 32-byte domain tag, and refuses any other input:
 *   - Flow transaction messages: Flow's transaction tag, and the rest must decode strictly
 *     as a payload or envelope (decodeTransactionMessage re-encodes and compares);
 *   - login challenges: LATCH-CUSTODY-LOGIN-V1 tag followed by exactly 32 bytes;
 *   - notice inbox registrations: LATCH-CUSTODY-INBOX-V1 tag followed by a 32-byte digest
 *     (custody/inbox-signature.ts, issue 15 §4).
 * The key is a different key from every SSH key; nothing here reads or writes SSH keys.
 */
import { LatchError } from '../util/latch-error.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, signFlowMessage } from '../ledger/flow/flow-signer.js';
import { TRANSACTION_DOMAIN_TAG } from '../ledger/flow/flow-transaction.js';
import { decodeTransactionMessage } from '../ledger/flow/flow-message-decoder.js';
import { LOGIN_CHALLENGE_BYTES, LOGIN_DOMAIN_TAG } from '../custody/custody-api.js';
import { INBOX_DOMAIN_TAG } from '../custody/inbox-signature.js';

/** What the SDK needs from a key: its public key and a signing function. */
export interface CustodySigner {
  readonly publicKey: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export function newDeviceKey(): { deviceKey: string; devicePublicKey: string } {
  const sk = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
  return { deviceKey: bytesToHex(sk), devicePublicKey: flowPublicKeyFromPrivate(sk, SIGN_ALGO_ECDSA_P256) };
}

/** Which kind of message this is, or a LatchError('refused_message'). */
export function classifyCustodyMessage(message: Uint8Array): 'transaction' | 'login' | 'inbox' {
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be bytes');
  const tag = message.subarray(0, 32);
  if (message.length > 32 && bytesEqual(tag, TRANSACTION_DOMAIN_TAG)) {
    try {
      decodeTransactionMessage(message);
    } catch {
      throw new LatchError('refused_message', 'the device key refuses: this is not a well-formed Flow transaction message');
    }
    return 'transaction';
  }
  if (message.length === 32 + LOGIN_CHALLENGE_BYTES && bytesEqual(tag, LOGIN_DOMAIN_TAG)) return 'login';
  if (message.length === 64 && bytesEqual(tag, INBOX_DOMAIN_TAG)) return 'inbox';
  throw new LatchError('refused_message', 'the device key signs only Flow transactions, Latch login challenges and notice inbox registrations');
}

export function deviceSigner(stored: { deviceKey: string; devicePublicKey: string }): CustodySigner {
  return {
    publicKey: stored.devicePublicKey,
    async sign(message) {
      classifyCustodyMessage(message);
      return signFlowMessage(message, hexToBytes(stored.deviceKey), SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256);
    },
  };
}
