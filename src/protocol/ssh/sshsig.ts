/**
 * SSHSIG (OpenSSH PROTOCOL.sshsig): the to-be-signed blob, the signature blob and its
 * armor, exactly as `ssh-keygen -Y sign` writes them. Strict parsers. Pure; browser-safe.
 */
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { LatchError } from '../../util/latch-error.js';
import { SshReader, SshWriter } from './ssh-wire.js';
import { decodeBase64, encodeBase64 } from '../base64url.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';

/** PROTOCOL.sshsig §2: MAGIC_PREAMBLE. */
export const SSHSIG_MAGIC = new TextEncoder().encode('SSHSIG');
/** PROTOCOL.sshsig §2: SIG_VERSION. */
export const SSHSIG_VERSION = 1;
export type SshsigHash = 'sha256' | 'sha512';

const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** ssh-keygen wraps base64 at 70 columns (sshbuf_dtob64 with wrap). */
const LINE = 70;

export function sshsigHash(alg: SshsigHash, message: Uint8Array): Uint8Array {
  return alg === 'sha256' ? sha256(message) : sha512(message);
}

function readMagic(r: SshReader, what: string): void {
  for (const b of SSHSIG_MAGIC) {
    if (r.byte() !== b) throw new LatchError('ssh_malformed', `${what}: missing SSHSIG preamble`);
  }
}

function checkNamespace(ns: string): void {
  // PROTOCOL.sshsig §3: the namespace is mandatory (ssh-keygen refuses an empty one).
  if (ns.length === 0) throw new LatchError('ssh_malformed', 'SSHSIG namespace must not be empty');
}

function readHashAlg(r: SshReader): SshsigHash {
  const h = r.utf8();
  if (h !== 'sha256' && h !== 'sha512') throw new LatchError('ssh_malformed', 'SSHSIG hash algorithm must be sha256 or sha512');
  return h;
}

export interface SshsigSignedData {
  namespace: string;
  hashAlgorithm: SshsigHash;
  /** H(message). */
  hash: Uint8Array;
}

/** PROTOCOL.sshsig §3: the blob that is actually signed. */
export function buildSshsigSignedData(namespace: string, hashAlgorithm: SshsigHash, messageHash: Uint8Array): Uint8Array {
  checkNamespace(namespace);
  const len = hashAlgorithm === 'sha256' ? 32 : 64;
  if (messageHash.length !== len) throw new TypeError(`${hashAlgorithm} hash must be ${len} bytes`);
  return new SshWriter().raw(SSHSIG_MAGIC).string(namespace).string(new Uint8Array(0)).string(hashAlgorithm).string(messageHash).bytes();
}

/** Convenience: hash the message, then build the signed-data blob. */
export function buildSshsigSignedDataForMessage(namespace: string, message: Uint8Array, hashAlgorithm: SshsigHash = 'sha512'): Uint8Array {
  return buildSshsigSignedData(namespace, hashAlgorithm, sshsigHash(hashAlgorithm, message));
}

export function parseSshsigSignedData(data: Uint8Array): SshsigSignedData {
  const r = new SshReader(data, 'SSHSIG signed data');
  readMagic(r, 'SSHSIG signed data');
  const namespace = r.utf8();
  checkNamespace(namespace);
  // "reserved" must be empty in this version; a non-empty one is an unknown version.
  if (r.string().length !== 0) throw new LatchError('ssh_malformed', 'SSHSIG reserved field is not empty');
  const hashAlgorithm = readHashAlg(r);
  const hash = r.string().slice();
  if (hash.length !== (hashAlgorithm === 'sha256' ? 32 : 64)) throw new LatchError('ssh_malformed', 'SSHSIG hash has the wrong length');
  r.expectEnd();
  return { namespace, hashAlgorithm, hash };
}

export interface Sshsig {
  publicKey: Uint8Array;
  namespace: string;
  hashAlgorithm: SshsigHash;
  /** SSH signature blob over the signed data. */
  signature: Uint8Array;
}

/** PROTOCOL.sshsig §2: the signature blob. */
export function encodeSshsig(sig: Sshsig): Uint8Array {
  checkNamespace(sig.namespace);
  return new SshWriter()
    .raw(SSHSIG_MAGIC)
    .uint32(SSHSIG_VERSION)
    .string(sig.publicKey)
    .string(sig.namespace)
    .string(new Uint8Array(0))
    .string(sig.hashAlgorithm)
    .string(sig.signature)
    .bytes();
}

export function parseSshsig(blob: Uint8Array): Sshsig {
  const r = new SshReader(blob, 'SSHSIG');
  readMagic(r, 'SSHSIG');
  if (r.uint32() !== SSHSIG_VERSION) throw new LatchError('ssh_malformed', 'unsupported SSHSIG version');
  const publicKey = r.string().slice();
  const namespace = r.utf8();
  checkNamespace(namespace);
  if (r.string().length !== 0) throw new LatchError('ssh_malformed', 'SSHSIG reserved field is not empty');
  const hashAlgorithm = readHashAlg(r);
  const signature = r.string().slice();
  r.expectEnd();
  return { publicKey, namespace, hashAlgorithm, signature };
}

/** Armor as ssh-keygen writes the .sig file, including the final newline. */
export function armorSshsig(blob: Uint8Array): string {
  const b64 = encodeBase64(blob);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE) lines.push(b64.slice(i, i + LINE));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/**
 * Strict inverse of armorSshsig: exactly the layout ssh-keygen writes (a missing final
 * newline is tolerated, as git may strip it). Re-armoring must give the same text.
 */
export function unarmorSshsig(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('unarmorSshsig expects a string');
  const t = text.endsWith('\n') ? text : text + '\n';
  const lines = t.slice(0, -1).split('\n');
  if (lines.length < 3 || lines[0] !== BEGIN || lines[lines.length - 1] !== END) {
    throw new LatchError('ssh_malformed', 'not an armored SSH signature');
  }
  const body = lines.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const l = body[i]!;
    if (l.length === 0 || l.length > LINE || (i < body.length - 1 && l.length !== LINE)) {
      throw new LatchError('ssh_malformed', 'armored SSH signature has bad line wrapping');
    }
  }
  const blob = decodeBase64(body.join(''), 'SSH signature');
  if (armorSshsig(blob) !== t) throw new LatchError('ssh_malformed', 'armored SSH signature is not canonical');
  return blob;
}

/** True when an SSHSIG names this key and namespace (for callers checking a returned signature). */
export function sshsigMatches(sig: Sshsig, publicKey: Uint8Array, namespace: string): boolean {
  return bytesEqual(sig.publicKey, publicKey) && sig.namespace === namespace;
}
