/**
 * Strict decoder for the messages keys sign: domain tag || payload RLP, or domain tag ||
 * envelope RLP (layouts in flow-transaction.ts). An authenticator that is handed bytes to
 * sign uses this to prove they are a Flow transaction message and to show what it does.
 *
 * Strict: the 32-byte tag must be the transaction tag, no trailing bytes, fixed-size fields
 * exact, text valid UTF-8, integers canonical, signatures in canonical order, signer
 * indices in range. Concretely, a message is accepted only if re-encoding the decoded
 * transaction gives back the very same bytes. Pure; browser-safe.
 */
import { decode as rlpDecode } from '@ethereumjs/rlp';
import { LatchError } from '../../util/latch-error.js';
import { bytesToHex } from './flow-hex.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import {
  envelopeMessage,
  payloadMessage,
  signerList,
  TRANSACTION_DOMAIN_TAG,
  type FlowSignature,
  type FlowTransaction,
} from './flow-transaction.js';

export interface DecodedTransactionMessage {
  kind: 'payload' | 'envelope';
  /** For 'payload', signature lists are empty; for 'envelope', envelopeSignatures is. */
  transaction: FlowTransaction;
}

type Item = Uint8Array | Item[];
const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): never {
  throw new LatchError('bad_transaction_message', message);
}

function bytes(v: Item | undefined, what: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} must be a byte string`);
  if (length !== undefined && v.length !== length) bad(`${what} must be ${length} bytes`);
  return v;
}

function list(v: Item | undefined, what: string, length?: number): Item[] {
  if (!Array.isArray(v)) bad(`${what} must be a list`);
  if (length !== undefined && v.length !== length) bad(`${what} must have ${length} items`);
  return v;
}

function uint(v: Item | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const b = bytes(v, what);
  if (b.length > 7) bad(`${what} is out of range`);
  let n = 0;
  for (const x of b) n = n * 256 + x;
  if (n > max) bad(`${what} is out of range`);
  return n;
}

function text(v: Item | undefined, what: string): string {
  try {
    return utf8.decode(bytes(v, what));
  } catch (e) {
    if (e instanceof LatchError) throw e;
    bad(`${what} is not valid UTF-8`);
  }
}

function payloadFrom(p: Item[]): FlowTransaction {
  const address = (v: Item | undefined, what: string) => '0x' + bytesToHex(bytes(v, what, 8));
  return {
    script: text(p[0], 'script'),
    arguments: list(p[1], 'arguments').map((a, i) => text(a, `arguments[${i}]`)),
    referenceBlockId: bytesToHex(bytes(p[2], 'reference block id', 32)),
    gasLimit: uint(p[3], 'gas limit'),
    proposalKey: {
      address: address(p[4], 'proposer'),
      keyIndex: uint(p[5], 'proposal key index', 0xffffffff),
      sequenceNumber: uint(p[6], 'sequence number'),
    },
    payer: address(p[7], 'payer'),
    authorizers: list(p[8], 'authorizers').map((a, i) => address(a, `authorizers[${i}]`)),
    payloadSignatures: [],
    envelopeSignatures: [],
  };
}

export function decodeTransactionMessage(message: Uint8Array): DecodedTransactionMessage {
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be bytes');
  if (message.length < 32 || !bytesEqual(message.subarray(0, 32), TRANSACTION_DOMAIN_TAG)) {
    bad('message does not start with the Flow transaction domain tag');
  }
  let root: Item;
  try {
    root = rlpDecode(message.subarray(32)) as Item;
  } catch {
    bad('message is not a single well-formed RLP item');
  }
  const top = list(root, 'message');
  let result: DecodedTransactionMessage;
  if (top.length === 9) {
    result = { kind: 'payload', transaction: payloadFrom(top) };
  } else if (top.length === 2) {
    const tx = payloadFrom(list(top[0], 'payload', 9));
    const signers = signerList(tx);
    const sigs: FlowSignature[] = list(top[1], 'payload signatures').map((s, i) => {
      const [si, ki, sig] = list(s, `payload signatures[${i}]`, 3);
      const idx = uint(si, 'signer index');
      const address = signers[idx];
      if (address === undefined) bad(`payload signatures[${i}] has signer index ${idx}, beyond the signer list`);
      return { address, keyIndex: uint(ki, 'key index', 0xffffffff), signature: bytesToHex(bytes(sig, 'signature')) };
    });
    result = { kind: 'envelope', transaction: { ...tx, payloadSignatures: sigs } };
  } else {
    bad('message is neither a payload (9 items) nor an envelope (2 items)');
  }
  // Canonical only: the decoded transaction must encode to exactly these bytes.
  const again = result.kind === 'payload' ? payloadMessage(result.transaction) : envelopeMessage(result.transaction);
  if (!bytesEqual(again, message)) bad('message is not in canonical form');
  return result;
}
