/**
 * Flow transaction model and its canonical encodings: payload RLP, envelope RLP,
 * the domain-tagged messages that keys sign, and the transaction id.
 *
 * Layouts (flow-go model/flow/transaction.go; fcl-js packages/sdk/src/encode/encode.ts;
 * flow-go-sdk transaction.go), checked against their published vectors in test/vectors/:
 *   payload  = RLP[script, [arg...], refBlockId(32), gasLimit, proposer(8), proposerKeyIndex,
 *                  proposerSeqNum, payer(8), [authorizer(8)...]]
 *   envelope = RLP[payload, [[signerIndex, keyIndex, sig]...]]         (payload signatures)
 *   full tx  = RLP[payload, [payload sigs], [envelope sigs]]  ->  id = SHA3-256(full tx)
 *   message  = "FLOW-V0.0-transaction" right-padded with zeros to 32 bytes || payload|envelope
 * Signatures in every list are ordered by (signer index, key index), where the signer list is
 * proposer, payer, authorizers, deduplicated in that order.
 *
 * Pure: no I/O, no keys. Browser-safe (@ethereumjs/rlp, @noble/hashes).
 */
import { encode as rlpEncode } from '@ethereumjs/rlp';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { LatchError } from '../../util/latch-error.js';
import { bytesToHex, canonicalHex, hexToBytes } from './flow-hex.js';
import { concatBytes } from '@noble/hashes/utils.js';

/** A signature entry as Flow's APIs carry it: who signed, with which key, raw bytes as hex. */
export interface FlowSignature {
  address: string;
  keyIndex: number;
  /** Hex; for ECDSA keys Flow expects raw r‖s (64 bytes), but the codec encodes any bytes. */
  signature: string;
}

export interface FlowProposalKey {
  address: string;
  keyIndex: number;
  sequenceNumber: number;
}

export interface FlowTransaction {
  /** Cadence source, UTF-8. */
  script: string;
  /** JSON-Cadence values, each the exact text that goes on the wire (encoded as UTF-8). */
  arguments: string[];
  /** 32 bytes, hex. */
  referenceBlockId: string;
  gasLimit: number;
  proposalKey: FlowProposalKey;
  payer: string;
  authorizers: string[];
  payloadSignatures: FlowSignature[];
  envelopeSignatures: FlowSignature[];
}

const TAG_TEXT = 'FLOW-V0.0-transaction';
/** The transaction domain tag: UTF-8 "FLOW-V0.0-transaction" right-padded with zeros to 32 bytes. */
export const TRANSACTION_DOMAIN_TAG: Uint8Array = (() => {
  const tag = new Uint8Array(32);
  tag.set(new TextEncoder().encode(TAG_TEXT));
  return tag;
})();

const ADDRESS_RE = /^(0x)?[0-9a-fA-F]{16}$/;

/**
 * Strict Flow address: exactly 8 bytes as 16 hex digits, "0x" optional, either case.
 * Returns the canonical form "0x" + 16 lowercase hex digits.
 */
export function parseFlowAddress(text: string, what = 'address'): string {
  if (typeof text !== 'string') throw new LatchError('bad_address', `${what} must be a string`);
  if (!ADDRESS_RE.test(text)) {
    throw new LatchError('bad_address', `${what} is not a Flow address (8 bytes as 16 hex digits, 0x optional)`);
  }
  return '0x' + text.slice(text.length - 16).toLowerCase();
}

export function addressBytes(address: string): Uint8Array {
  return hexToBytes(parseFlowAddress(address).slice(2), 'address', 8);
}

/** Largest value we accept for uint64 fields: JS numbers are exact only up to 2^53 - 1. */
function checkUint(n: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new LatchError('bad_transaction', `${what} must be an integer between 0 and ${max}`);
  }
  return n;
}

function checkSignature(sig: unknown, what: string): FlowSignature {
  if (sig === null || typeof sig !== 'object') throw new LatchError('bad_transaction', `${what} must be an object`);
  const s = sig as Record<string, unknown>;
  return {
    address: parseFlowAddress(s.address as string, `${what}.address`),
    keyIndex: checkUint(s.keyIndex, `${what}.keyIndex`, 0xffffffff),
    signature: canonicalHex(s.signature as string, `${what}.signature`),
  };
}

/**
 * Validates every field and returns a canonical copy (addresses "0x"+lowercase, hex
 * lowercase). Throws LatchError('bad_transaction' | 'bad_address' | 'bad_hex').
 * Signature lists are returned in canonical order; signatures from accounts that are not
 * signers of this transaction are refused (flow-go gives them no signer index).
 */
export function normalizeTransaction(tx: FlowTransaction): FlowTransaction {
  if (tx === null || typeof tx !== 'object') throw new LatchError('bad_transaction', 'transaction must be an object');
  if (typeof tx.script !== 'string') throw new LatchError('bad_transaction', 'script must be a string');
  if (!Array.isArray(tx.arguments) || tx.arguments.some((a) => typeof a !== 'string')) {
    throw new LatchError('bad_transaction', 'arguments must be an array of JSON-Cadence strings');
  }
  const pk = tx.proposalKey;
  if (pk === null || typeof pk !== 'object') throw new LatchError('bad_transaction', 'proposalKey must be an object');
  if (!Array.isArray(tx.authorizers)) throw new LatchError('bad_transaction', 'authorizers must be an array');
  if (!Array.isArray(tx.payloadSignatures)) throw new LatchError('bad_transaction', 'payloadSignatures must be an array');
  if (!Array.isArray(tx.envelopeSignatures)) throw new LatchError('bad_transaction', 'envelopeSignatures must be an array');
  if (typeof tx.gasLimit !== 'number') throw new LatchError('bad_transaction', 'gasLimit must be a number');
  const out: FlowTransaction = {
    script: tx.script,
    arguments: [...tx.arguments],
    referenceBlockId: canonicalHex(tx.referenceBlockId, 'referenceBlockId', 32),
    gasLimit: checkUint(tx.gasLimit, 'gasLimit'),
    proposalKey: {
      address: parseFlowAddress(pk.address, 'proposalKey.address'),
      keyIndex: checkUint(pk.keyIndex, 'proposalKey.keyIndex', 0xffffffff),
      sequenceNumber: checkUint(pk.sequenceNumber, 'proposalKey.sequenceNumber'),
    },
    payer: parseFlowAddress(tx.payer, 'payer'),
    authorizers: tx.authorizers.map((a, i) => parseFlowAddress(a, `authorizers[${i}]`)),
    payloadSignatures: [],
    envelopeSignatures: [],
  };
  const signers = signerIndexMap(out);
  const sortSigs = (list: unknown[], what: string): FlowSignature[] => {
    const sigs = list.map((s, i) => checkSignature(s, `${what}[${i}]`));
    for (const s of sigs) {
      if (!signers.has(s.address)) {
        throw new LatchError('bad_transaction', `${what} has a signature from ${s.address}, which is not a signer of this transaction`);
      }
    }
    return sortSignatures(sigs, signers);
  };
  out.payloadSignatures = sortSigs(tx.payloadSignatures, 'payloadSignatures');
  out.envelopeSignatures = sortSigs(tx.envelopeSignatures, 'envelopeSignatures');
  return out;
}

/** The signer list: proposer, payer, then authorizers, deduplicated in that order. */
export function signerList(tx: Pick<FlowTransaction, 'proposalKey' | 'payer' | 'authorizers'>): string[] {
  const seen: string[] = [];
  const add = (a: string): void => {
    const c = parseFlowAddress(a);
    if (!seen.includes(c)) seen.push(c);
  };
  add(tx.proposalKey.address);
  add(tx.payer);
  tx.authorizers.forEach(add);
  return seen;
}

function signerIndexMap(tx: Pick<FlowTransaction, 'proposalKey' | 'payer' | 'authorizers'>): Map<string, number> {
  return new Map(signerList(tx).map((a, i) => [a, i]));
}

/** Index of `address` in the signer list, or -1 (as flow-go-sdk reports an unknown signer). */
export function signerIndex(tx: Pick<FlowTransaction, 'proposalKey' | 'payer' | 'authorizers'>, address: string): number {
  return signerIndexMap(tx).get(parseFlowAddress(address)) ?? -1;
}

function sortSignatures(sigs: FlowSignature[], signers: Map<string, number>): FlowSignature[] {
  return [...sigs].sort((a, b) => {
    const d = signers.get(a.address)! - signers.get(b.address)!;
    return d !== 0 ? d : a.keyIndex - b.keyIndex;
  });
}

type RlpItem = Uint8Array | number | RlpItem[];
const utf8 = new TextEncoder();

function payloadItems(tx: FlowTransaction): RlpItem[] {
  return [
    utf8.encode(tx.script),
    tx.arguments.map((a) => utf8.encode(a)),
    hexToBytes(tx.referenceBlockId, 'referenceBlockId', 32),
    tx.gasLimit,
    addressBytes(tx.proposalKey.address),
    tx.proposalKey.keyIndex,
    tx.proposalKey.sequenceNumber,
    addressBytes(tx.payer),
    tx.authorizers.map(addressBytes),
  ];
}

function signatureItems(sigs: FlowSignature[], signers: Map<string, number>): RlpItem[] {
  return sigs.map((s) => [signers.get(s.address)!, s.keyIndex, hexToBytes(s.signature, 'signature')]);
}

/** RLP of the payload, without the domain tag. */
export function encodePayloadRlp(tx: FlowTransaction): Uint8Array {
  return rlpEncode(payloadItems(normalizeTransaction(tx)));
}

/** RLP of the envelope (payload + payload signatures), without the domain tag. */
export function encodeEnvelopeRlp(tx: FlowTransaction): Uint8Array {
  const n = normalizeTransaction(tx);
  return rlpEncode([payloadItems(n), signatureItems(n.payloadSignatures, signerIndexMap(n))]);
}

/** What proposer and authorizers sign: domain tag || payload RLP. */
export function payloadMessage(tx: FlowTransaction): Uint8Array {
  return concatBytes(TRANSACTION_DOMAIN_TAG, encodePayloadRlp(tx));
}

/** What the payer signs: domain tag || envelope RLP. */
export function envelopeMessage(tx: FlowTransaction): Uint8Array {
  return concatBytes(TRANSACTION_DOMAIN_TAG, encodeEnvelopeRlp(tx));
}

/** RLP of the whole signed transaction: [payload, payload sigs, envelope sigs]. */
export function encodeTransactionRlp(tx: FlowTransaction): Uint8Array {
  const n = normalizeTransaction(tx);
  const signers = signerIndexMap(n);
  return rlpEncode([payloadItems(n), signatureItems(n.payloadSignatures, signers), signatureItems(n.envelopeSignatures, signers)]);
}

/** Transaction id: SHA3-256 of the full transaction RLP (no domain tag), lowercase hex. */
export function transactionId(tx: FlowTransaction): string {
  return bytesToHex(sha3_256(encodeTransactionRlp(tx)));
}
