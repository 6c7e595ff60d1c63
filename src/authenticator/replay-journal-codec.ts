/**
 * The replay journal's byte format (PROTOCOL.md §5.5), pure: no I/O.
 *   file   = header record*
 *   header = "LRJ1" (4 bytes) || generation (16 random bytes, new for every fresh journal)
 *   record = u32 big-endian length of (nonce || ciphertext) || nonce (24) || ciphertext
 *   ciphertext = XChaCha20-Poly1305(journal key, nonce, JSON(ReplayEntry),
 *                aad = "latch-replay-journal-v1" || generation || u32 BE sequence number)
 * The key is random and lives inside the encrypted keystore, so nobody without the passphrase
 * can read a cached response (it may hold a signature) or forge an "already answered" record.
 * The generation and sequence number in the aad stop records being moved between journals or
 * reordered, dropped or repeated inside one; only the tail can be cut, which is exactly what a
 * crash does and is handled as one.
 */
import { LatchError } from '../util/latch-error.js';
import type { Sodium } from '../protocol/sodium.js';
import { randomBytes } from '../protocol/random-bytes.js';
import type { ReplayEntry } from './authenticator-state.js';

const MAGIC = new TextEncoder().encode('LRJ1');
const AAD_PREFIX = new TextEncoder().encode('latch-replay-journal-v1');
export const JOURNAL_HEADER_BYTES = MAGIC.length + 16;
const NONCE_BYTES = 24;
/** Far above any real entry (a response is a few KiB); a larger length is damage, not data. */
const MAX_RECORD_BYTES = 1 << 20;

export function encodeJournalHeader(generation: Uint8Array): Uint8Array {
  const out = new Uint8Array(JOURNAL_HEADER_BYTES);
  out.set(MAGIC, 0);
  out.set(generation, MAGIC.length);
  return out;
}

export function decodeJournalHeader(bytes: Uint8Array): Uint8Array {
  if (bytes.length < JOURNAL_HEADER_BYTES || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new LatchError('replay_journal_damaged', 'the replay journal has an unknown format or a damaged header');
  }
  return bytes.slice(MAGIC.length, JOURNAL_HEADER_BYTES);
}

function aad(generation: Uint8Array, seq: number): Uint8Array {
  const out = new Uint8Array(AAD_PREFIX.length + generation.length + 4);
  out.set(AAD_PREFIX, 0);
  out.set(generation, AAD_PREFIX.length);
  new DataView(out.buffer).setUint32(AAD_PREFIX.length + generation.length, seq);
  return out;
}

export function sealJournalRecord(sodium: Sodium, key: Uint8Array, generation: Uint8Array, seq: number, entry: ReplayEntry): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const plain = new TextEncoder().encode(JSON.stringify(entry));
  const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, aad(generation, seq), null, nonce, key);
  const out = new Uint8Array(4 + NONCE_BYTES + ct.length);
  new DataView(out.buffer).setUint32(0, NONCE_BYTES + ct.length);
  out.set(nonce, 4);
  out.set(ct, 4 + NONCE_BYTES);
  return out;
}

export interface OpenedRecords {
  entries: ReplayEntry[];
  /** Bytes of `bytes` taken up by whole, authentic records. */
  used: number;
  /** True when something follows the last good record: a record torn by a crash. */
  tornTail: boolean;
}

/**
 * Opens the records in `bytes` (which start at record number `firstSeq`). A record that does not
 * open is accepted as a torn tail only when it is the last thing in the file: a crash can cut an
 * append short but cannot damage what an earlier fdatasync made durable. Anything else is damage.
 */
export function openJournalRecords(sodium: Sodium, key: Uint8Array, generation: Uint8Array, firstSeq: number, bytes: Uint8Array): OpenedRecords {
  const entries: ReplayEntry[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let seq = firstSeq;
  while (at < bytes.length) {
    if (bytes.length - at < 4) return { entries, used: at, tornTail: true };
    const len = view.getUint32(at);
    const end = at + 4 + len;
    if (end > bytes.length) {
      if (len > MAX_RECORD_BYTES) throw damaged();
      return { entries, used: at, tornTail: true };
    }
    let plain: Uint8Array;
    try {
      if (len <= NONCE_BYTES) throw new Error('short record');
      plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, bytes.subarray(at + 4 + NONCE_BYTES, end), aad(generation, seq), bytes.subarray(at + 4, at + 4 + NONCE_BYTES), key);
    } catch {
      if (end === bytes.length) return { entries, used: at, tornTail: true };
      throw damaged();
    }
    entries.push(JSON.parse(new TextDecoder().decode(plain)) as ReplayEntry);
    at = end;
    seq++;
  }
  return { entries, used: at, tornTail: false };
}

function damaged(): LatchError {
  return new LatchError('replay_journal_damaged', 'the replay journal was altered (a record in its middle does not authenticate); the authenticator will not answer requests until it is restored or removed');
}
