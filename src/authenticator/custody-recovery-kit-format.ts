/**
 * The recovery kit's format (docs/CUSTODY.md "Keys at rest"), without files: the account's
 * recovery key, encrypted under a recovery passphrase:
 *   key  = Argon2id(passphrase, salt)  (libsodium crypto_pwhash, MODERATE limits: 3 passes, 256 MiB)
 *   box  = XChaCha20-Poly1305(key, nonce, P-256 scalar, aad = "latch-recovery-kit-v1|" + address)
 * The address and public key are in clear so a user (and `recover`) can see what the kit is for.
 * Browser-safe (libsodium's WebAssembly has Argon2id), so the web authenticator writes the same
 * kit as `latch account create`, as a download; custody-recovery-kit.ts writes and reads files.
 */
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, signFlowMessage } from '../ledger/flow/flow-signer.js';
import { classifyCustodyMessage, type CustodySigner } from './custody-device-key.js';

interface KitFile {
  format: 'latch-recovery-kit';
  v: 1;
  address: string;
  public_key: string;
  kdf: { alg: 'argon2id13'; opslimit: number; memlimit: number; salt: string };
  nonce: string;
  ciphertext: string;
}

const aad = (address: string): Uint8Array => new TextEncoder().encode(`latch-recovery-kit-v1|${address}`);

export function newRecoveryKey(): { secret: Uint8Array; publicKey: string } {
  const secret = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
  return { secret, publicKey: flowPublicKeyFromPrivate(secret, SIGN_ALGO_ECDSA_P256) };
}

/** The kit's file name: the same wherever it is written. */
export function recoveryKitFileName(address: string): string {
  return `latch-recovery-${address}.json`;
}

/** The kit file's text (JSON). */
export function encodeRecoveryKit(sodium: Sodium, address: string, secret: Uint8Array, passphrase: string): string {
  const kdf = { alg: 'argon2id13' as const, opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE, salt: encodeBase64url(sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES)) };
  const key = derive(sodium, passphrase, kdf);
  const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const file: KitFile = {
    format: 'latch-recovery-kit',
    v: 1,
    address,
    public_key: flowPublicKeyFromPrivate(secret, SIGN_ALGO_ECDSA_P256),
    kdf,
    nonce: encodeBase64url(nonce),
    ciphertext: encodeBase64url(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(secret, aad(address), null, nonce, key)),
  };
  key.fill(0);
  return JSON.stringify(file, null, 1) + '\n';
}

/** Open a kit's text; `where` names it in errors (a path, or "the kit"). */
export function decodeRecoveryKit(sodium: Sodium, text: string, passphrase: string, where = 'the recovery kit'): { address: string; publicKey: string; signer: CustodySigner } {
  let f: KitFile;
  try {
    f = JSON.parse(text) as KitFile;
  } catch (e) {
    throw new LatchError('bad_recovery_kit', `cannot read ${where}: ${(e as Error).message.slice(0, 120)}`);
  }
  if (f?.format !== 'latch-recovery-kit' || f.v !== 1 || f.kdf?.alg !== 'argon2id13' || typeof f.address !== 'string') {
    throw new LatchError('bad_recovery_kit', 'this is not a Latch recovery kit (or an unknown version)');
  }
  // Checked before the passphrase is tried, so a kit that is refused says why, not "wrong passphrase".
  checkKdf(sodium, f.kdf);
  let key: Uint8Array;
  try {
    key = derive(sodium, passphrase, f.kdf);
  } catch (e) {
    if (e instanceof LatchError) throw e;
    // Not the passphrase's fault: say so (issue 15 §6), with what the library answered.
    throw new LatchError('recovery_kit_kdf_failed', `the kit's key derivation cannot run here (Argon2id with ${f.kdf.memlimit / 2 ** 20} MiB: ${(e as Error).message.slice(0, 80)})`);
  }
  let secret: Uint8Array;
  try {
    secret = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, decodeBase64url(f.ciphertext), aad(f.address), decodeBase64url(f.nonce), key);
  } catch {
    throw new LatchError('bad_passphrase', 'wrong recovery passphrase, or the kit was altered');
  }
  const publicKey = flowPublicKeyFromPrivate(secret, SIGN_ALGO_ECDSA_P256);
  if (publicKey !== f.public_key) throw new LatchError('bad_recovery_kit', 'the kit\'s key does not match its public key');
  return {
    address: f.address,
    publicKey,
    signer: {
      publicKey,
      // The recovery key obeys the same separation as the device key.
      async sign(message) {
        classifyCustodyMessage(message);
        return signFlowMessage(message, secret, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256);
      },
    },
  };
}

/**
 * The most work a kit may ask of Argon2id. A kit is a file anyone can hand the user, and its KDF
 * parameters are read from it: without a bound, a crafted kit (opslimit 2^40) hangs
 * `latch account recover` or the web page for ever. Kits are written with MODERATE (3 passes,
 * 256 MiB); the bounds are libsodium's SENSITIVE preset (4 passes, 1 GiB), so any kit
 * libsodium's presets can describe still opens, and the worst accepted kit costs seconds.
 * The memory bound is also what libsodium.js can run at all (issue 15 §6): its WebAssembly
 * Argon2id derives 1 GiB, but fails at 2 GiB - 1 MiB ("invalid usage") and refuses 2 GiB outright
 * (the size must fit an int32), which users were told was a "wrong recovery passphrase".
 */
export const MAX_KIT_OPSLIMIT = 4;
export const MAX_KIT_MEMLIMIT = 2 ** 30;

function checkKdf(sodium: Sodium, kdf: KitFile['kdf']): void {
  if (
    !Number.isSafeInteger(kdf.opslimit) ||
    !Number.isSafeInteger(kdf.memlimit) ||
    typeof kdf.salt !== 'string' ||
    kdf.opslimit < sodium.crypto_pwhash_OPSLIMIT_MIN ||
    kdf.memlimit < sodium.crypto_pwhash_MEMLIMIT_MIN
  ) {
    throw new LatchError('bad_recovery_kit', 'the kit has bad KDF parameters');
  }
  if (kdf.opslimit > MAX_KIT_OPSLIMIT || kdf.memlimit > MAX_KIT_MEMLIMIT) {
    throw new LatchError('recovery_kit_kdf_too_costly', `the kit asks for more key-derivation work than Latch allows (at most ${MAX_KIT_OPSLIMIT} passes and ${MAX_KIT_MEMLIMIT / 2 ** 20} MiB); it was not written by Latch`);
  }
}

function derive(sodium: Sodium, passphrase: string, kdf: KitFile['kdf']): Uint8Array {
  checkKdf(sodium, kdf);
  return sodium.crypto_pwhash(32, passphrase, decodeBase64url(kdf.salt), kdf.opslimit, kdf.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
}
