/**
 * A parent account's key in a file (issue 13: `latch account create --self-custody --key-file
 * FILE`, `--parent-key FILE`). JSON, mode 0600, written once and never overwritten:
 *
 *   {"type":"latch-flow-key","version":1,"address":"0x…","key_index":0,
 *    "signature_algorithm":"ECDSA_P256"|"ECDSA_secp256k1","hash_algorithm":"SHA2_256"|"SHA3_256",
 *    "private_key":"<32-byte scalar, hex>"}
 *
 * The key of any existing Flow account works too: write that account's address, key index,
 * algorithms and private key in this form. The private key is read only to sign; it is never
 * sent anywhere, logged, or put in an error message.
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { LatchError } from '../util/latch-error.js';
import { HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256, SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1, type FlowHashAlgo, type FlowSignAlgo } from '../ledger/flow/flow-account-key.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, signFlowMessage } from '../ledger/flow/flow-signer.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { parseFlowAddress } from '../ledger/flow/flow-transaction.js';
import type { ParentSigner } from '../sdk/custody-client.js';

export type SignAlgoName = 'ECDSA_P256' | 'ECDSA_secp256k1';
export type HashAlgoName = 'SHA2_256' | 'SHA3_256';

const SIGN: Record<SignAlgoName, FlowSignAlgo> = { ECDSA_P256: SIGN_ALGO_ECDSA_P256, ECDSA_secp256k1: SIGN_ALGO_ECDSA_SECP256K1 };
const HASH: Record<HashAlgoName, FlowHashAlgo> = { SHA2_256: HASH_ALGO_SHA2_256, SHA3_256: HASH_ALGO_SHA3_256 };

export interface FlowKeyFile {
  address: string;
  keyIndex: number;
  signatureAlgorithm: SignAlgoName;
  hashAlgorithm: HashAlgoName;
  publicKey: string;
  signer: ParentSigner;
}

function bad(path: string, what: string): never {
  throw new LatchError('bad_key_file', `${path} is not a Latch Flow key file: ${what}`);
}

export function readFlowKeyFile(path: string): FlowKeyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LatchError('key_file_unreadable', `cannot read the key file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    bad(path, 'not JSON');
  }
  if (o === null || typeof o !== 'object' || o.type !== 'latch-flow-key' || o.version !== 1) bad(path, 'type must be "latch-flow-key", version 1');
  if (typeof o.address !== 'string') bad(path, 'no address');
  let address: string;
  try {
    address = parseFlowAddress(o.address);
  } catch {
    bad(path, 'address is not a Flow address');
  }
  if (typeof o.key_index !== 'number' || !Number.isInteger(o.key_index) || o.key_index < 0) bad(path, 'key_index must be a whole number');
  const sa = o.signature_algorithm as SignAlgoName;
  const ha = o.hash_algorithm as HashAlgoName;
  if (!(sa in SIGN)) bad(path, 'signature_algorithm must be ECDSA_P256 or ECDSA_secp256k1');
  if (!(ha in HASH)) bad(path, 'hash_algorithm must be SHA2_256 or SHA3_256');
  if (typeof o.private_key !== 'string' || !/^[0-9a-f]{64}$/.test(o.private_key)) bad(path, 'private_key must be 64 lowercase hex digits');
  const sk = hexToBytes(o.private_key);
  const publicKey = flowPublicKeyFromPrivate(sk, SIGN[sa]);
  const keyIndex = o.key_index;
  return {
    address,
    keyIndex,
    signatureAlgorithm: sa,
    hashAlgorithm: ha,
    publicKey,
    signer: { address, keyIndex, sign: async (m) => signFlowMessage(m, sk, SIGN[sa], HASH[ha]) },
  };
}

/**
 * A new P-256 key at `path`, created exclusively (O_EXCL: an existing file, a key perhaps, is
 * never overwritten) with mode 0600. `finish(address)` writes the account's address into it
 * once the account exists; `abandon()` removes the file we created when no account was made;
 * `keep()` leaves it (address null) when that is not known: it may be the only copy of the key
 * of an account that exists.
 */
export function createFlowKeyFile(path: string): { publicKey: string; finish(address: string): void; abandon(): void; keep(): void } {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new LatchError('key_file_exists', `${path} already exists; Latch never overwrites a key file`);
    throw new LatchError('key_file_unwritable', `cannot create the key file ${path} (${code ?? 'error'})`);
  }
  const sk = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
  const publicKey = flowPublicKeyFromPrivate(sk, SIGN_ALGO_ECDSA_P256);
  const write = (address: string | null): void => {
    const body = JSON.stringify({ type: 'latch-flow-key', version: 1, address, key_index: 0, signature_algorithm: 'ECDSA_P256', hash_algorithm: 'SHA3_256', private_key: bytesToHex(sk) }, null, 2) + '\n';
    const bytes = new TextEncoder().encode(body);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, off);
    fsyncSync(fd);
  };
  // The key goes to disk before the account is created: an account whose key was lost would be lost.
  write(null);
  return {
    publicKey,
    finish(address: string) {
      write(address);
      closeSync(fd);
      if ((statSync(path).mode & 0o077) !== 0) throw new LatchError('key_file_mode', `${path} is readable by others`);
    },
    abandon() {
      closeSync(fd);
      rmSync(path, { force: true });
    },
    keep() {
      closeSync(fd);
    },
  };
}
