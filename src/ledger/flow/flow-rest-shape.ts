/**
 * Conversions between Latch's Flow types and the JSON shapes of the Flow Access REST API
 * (onflow/flow openapi/access.yaml: Transaction, ProposalKey, TransactionSignature,
 * AccountPublicKey, Account). The API carries uint64 values as decimal strings, bytes as
 * standard base64, ids as 64 hex digits and addresses as 16 hex digits.
 *
 * Parsers are strict about the fields Latch relies on and ignore only the API's
 * response-only decorations (id, result, _expandable, _links, metadata). Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import {
  HASH_ALGO_SHA2_256,
  HASH_ALGO_SHA3_256,
  parseWeight,
  SIGN_ALGO_ECDSA_P256,
  SIGN_ALGO_ECDSA_SECP256K1,
  type FlowAccountKey,
  type FlowHashAlgo,
  type FlowSignAlgo,
} from './flow-account-key.js';
import { decodeBase64, encodeBase64 } from '../../protocol/base64url.js';
import { bytesToHex, canonicalHex, hexToBytes } from './flow-hex.js';
import { normalizeTransaction, parseFlowAddress, transactionId, type FlowSignature, type FlowTransaction } from './flow-transaction.js';

export interface RestTransactionSignature {
  address: string;
  key_index: string;
  signature: string;
}

export interface RestTransaction {
  id?: string;
  script: string;
  arguments: string[];
  reference_block_id: string;
  gas_limit: string;
  payer: string;
  proposal_key: { address: string; key_index: string; sequence_number: string };
  authorizers: string[];
  payload_signatures: RestTransactionSignature[];
  envelope_signatures: RestTransactionSignature[];
}

export interface RestAccountKey {
  index: string;
  public_key: string;
  signing_algorithm: string;
  hashing_algorithm: string;
  sequence_number: string;
  weight: string;
  revoked: boolean;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): never {
  throw new LatchError('bad_rest_shape', message);
}

const restAddress = (a: string): string => parseFlowAddress(a).slice(2);

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function only(o: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${what} has an unexpected field "${k}"`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a string`);
  return v;
}

/** uint64 as a decimal string; we need values JS numbers hold exactly. */
function u64(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const s = str(v, what);
  if (!/^(0|[1-9][0-9]*)$/.test(s) || s.length > 16 || Number(s) > max) bad(`${what} must be a decimal integer string between 0 and ${max}`);
  return Number(s);
}

function addr(v: unknown, what: string): string {
  return parseFlowAddress(str(v, what), what);
}

function utf8Of(b64: unknown, what: string): string {
  const bytes = decodeBase64(str(b64, what), what);
  try {
    return utf8Strict.decode(bytes);
  } catch {
    bad(`${what} is not UTF-8`);
  }
}

function sigToRest(s: FlowSignature): RestTransactionSignature {
  return { address: restAddress(s.address), key_index: String(s.keyIndex), signature: encodeBase64(hexToBytes(s.signature, 'signature')) };
}

function sigFromRest(v: unknown, what: string): FlowSignature {
  const o = obj(v, what);
  only(o, ['address', 'key_index', 'signature'], what);
  return {
    address: addr(o.address, `${what}.address`),
    keyIndex: u64(o.key_index, `${what}.key_index`, 0xffffffff),
    signature: bytesToHex(decodeBase64(str(o.signature, `${what}.signature`), `${what}.signature`)),
  };
}

/** The POST /v1/transactions body (and, with withId, the GET response's core fields). */
export function toRestTransaction(tx: FlowTransaction, opts: { withId?: boolean } = {}): RestTransaction {
  const n = normalizeTransaction(tx);
  const body: RestTransaction = {
    script: encodeBase64(utf8.encode(n.script)),
    arguments: n.arguments.map((a) => encodeBase64(utf8.encode(a))),
    reference_block_id: n.referenceBlockId,
    gas_limit: String(n.gasLimit),
    payer: restAddress(n.payer),
    proposal_key: {
      address: restAddress(n.proposalKey.address),
      key_index: String(n.proposalKey.keyIndex),
      sequence_number: String(n.proposalKey.sequenceNumber),
    },
    authorizers: n.authorizers.map(restAddress),
    payload_signatures: n.payloadSignatures.map(sigToRest),
    envelope_signatures: n.envelopeSignatures.map(sigToRest),
  };
  return opts.withId ? { id: transactionId(n), ...body } : body;
}

const TX_FIELDS = ['script', 'arguments', 'reference_block_id', 'gas_limit', 'payer', 'proposal_key', 'authorizers', 'payload_signatures', 'envelope_signatures'];
const TX_RESPONSE_ONLY = ['id', 'result', '_expandable', '_links'];

/**
 * Parses a REST transaction (request body or response). When it carries an `id`, the id
 * must equal the one computed from the fields, so a node cannot show one transaction and
 * name another.
 */
export function fromRestTransaction(json: unknown): FlowTransaction {
  const o = obj(json, 'transaction');
  only(o, [...TX_FIELDS, ...TX_RESPONSE_ONLY], 'transaction');
  for (const f of TX_FIELDS) if (!(f in o)) bad(`transaction is missing "${f}"`);
  const pk = obj(o.proposal_key, 'proposal_key');
  only(pk, ['address', 'key_index', 'sequence_number'], 'proposal_key');
  const list = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) bad(`${what} must be an array`);
    return v;
  };
  const tx = normalizeTransaction({
    script: utf8Of(o.script, 'script'),
    arguments: list(o.arguments, 'arguments').map((a, i) => utf8Of(a, `arguments[${i}]`)),
    referenceBlockId: canonicalHex(str(o.reference_block_id, 'reference_block_id'), 'reference_block_id', 32),
    gasLimit: u64(o.gas_limit, 'gas_limit'),
    proposalKey: {
      address: addr(pk.address, 'proposal_key.address'),
      keyIndex: u64(pk.key_index, 'proposal_key.key_index', 0xffffffff),
      sequenceNumber: u64(pk.sequence_number, 'proposal_key.sequence_number'),
    },
    payer: addr(o.payer, 'payer'),
    authorizers: list(o.authorizers, 'authorizers').map((a, i) => addr(a, `authorizers[${i}]`)),
    payloadSignatures: list(o.payload_signatures, 'payload_signatures').map((s, i) => sigFromRest(s, `payload_signatures[${i}]`)),
    envelopeSignatures: list(o.envelope_signatures, 'envelope_signatures').map((s, i) => sigFromRest(s, `envelope_signatures[${i}]`)),
  });
  if (o.id !== undefined) {
    const id = canonicalHex(str(o.id, 'id'), 'id', 32);
    if (id !== transactionId(tx)) throw new LatchError('id_mismatch', 'transaction id does not match its contents');
  }
  return tx;
}

// Names as flow-go prints them (crypto.SigningAlgorithm/hash.HashingAlgorithm String());
// the openapi enum spells the signature algorithms without the underscore, so we accept both.
const SIGN_NAMES: Record<FlowSignAlgo, string> = { [SIGN_ALGO_ECDSA_P256]: 'ECDSA_P256', [SIGN_ALGO_ECDSA_SECP256K1]: 'ECDSA_secp256k1' };
const SIGN_ALIASES: Record<string, FlowSignAlgo> = {
  ECDSA_P256: SIGN_ALGO_ECDSA_P256,
  ECDSAP256: SIGN_ALGO_ECDSA_P256,
  ECDSA_secp256k1: SIGN_ALGO_ECDSA_SECP256K1,
  ECDSASecp256k1: SIGN_ALGO_ECDSA_SECP256K1,
};
const HASH_NAMES: Record<FlowHashAlgo, string> = { [HASH_ALGO_SHA2_256]: 'SHA2_256', [HASH_ALGO_SHA3_256]: 'SHA3_256' };

export function toRestAccountKey(k: FlowAccountKey): RestAccountKey {
  return {
    index: String(k.index),
    public_key: canonicalHex(k.publicKey, 'public key', 64),
    signing_algorithm: SIGN_NAMES[k.signAlgo],
    hashing_algorithm: HASH_NAMES[k.hashAlgo],
    sequence_number: String(k.sequenceNumber),
    weight: String(k.weight),
    revoked: k.revoked,
  };
}

export function fromRestAccountKey(json: unknown, what = 'key'): FlowAccountKey {
  const o = obj(json, what);
  only(o, ['index', 'public_key', 'signing_algorithm', 'hashing_algorithm', 'sequence_number', 'weight', 'revoked', 'metadata'], what);
  const sign = SIGN_ALIASES[str(o.signing_algorithm, `${what}.signing_algorithm`)];
  if (sign === undefined) bad(`${what}.signing_algorithm is not ECDSA_P256 or ECDSA_secp256k1`);
  const hashName = str(o.hashing_algorithm, `${what}.hashing_algorithm`);
  const hash = hashName === 'SHA2_256' ? HASH_ALGO_SHA2_256 : hashName === 'SHA3_256' ? HASH_ALGO_SHA3_256 : bad(`${what}.hashing_algorithm is not SHA2_256 or SHA3_256`);
  if (typeof o.revoked !== 'boolean') bad(`${what}.revoked must be a boolean`);
  let pub = str(o.public_key, `${what}.public_key`);
  if (pub.startsWith('0x')) pub = pub.slice(2);
  return {
    index: u64(o.index, `${what}.index`, 0xffffffff),
    publicKey: canonicalHex(pub, `${what}.public_key`, 64),
    signAlgo: sign,
    hashAlgo: hash,
    weight: parseWeight(u64(o.weight, `${what}.weight`)),
    sequenceNumber: u64(o.sequence_number, `${what}.sequence_number`),
    revoked: o.revoked,
  };
}

/** GET /v1/accounts/{address}?expand=keys. Balance is in units of 1e-8 FLOW. */
export function fromRestAccount(json: unknown): { address: string; balanceUnits: bigint; keys: FlowAccountKey[] } {
  const o = obj(json, 'account');
  only(o, ['address', 'balance', 'keys', 'contracts', 'metadata', '_expandable', '_links'], 'account');
  const balance = str(o.balance, 'account.balance');
  if (!/^(0|[1-9][0-9]*)$/.test(balance) || BigInt(balance) >= 1n << 64n) bad('account.balance must be a uint64 decimal string');
  if (!Array.isArray(o.keys)) bad('account.keys must be an array (request expand=keys)');
  return { address: addr(o.address, 'account.address'), balanceUnits: BigInt(balance), keys: o.keys.map((k, i) => fromRestAccountKey(k, `account.keys[${i}]`)) };
}
