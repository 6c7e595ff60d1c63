/**
 * The authenticator's keystore: one file, encrypted at rest.
 *   key   = Argon2id(passphrase, salt)        (libsodium crypto_pwhash, INTERACTIVE limits)
 *   file  = XChaCha20-Poly1305(key, nonce, JSON(state), aad = "latch-keystore-v1")
 * The salt is fixed for the keystore's life so the key is derived once per process; every
 * write uses a fresh random nonce. Writes go through a lock file and an atomic rename, so
 * `latch device pair` and a running `latch device run` can both update it safely.
 */
import { readFileSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { LatchError } from '../util/latch-error.js';
import { withFileLock } from '../util/file-lock.js';
import { writeFileAtomic, readFileIfExists } from '../util/atomic-file.js';
import { encodeBase64url, decodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { AuthenticatorState } from './authenticator-state.js';

const AAD = new TextEncoder().encode('latch-keystore-v1');

interface KeystoreFile {
  format: 'latch-keystore';
  v: 1;
  kdf: { alg: 'argon2id13'; opslimit: number; memlimit: number; salt: string };
  nonce: string;
  ciphertext: string;
}

export class Keystore {
  #state: AuthenticatorState;
  #mtimeMs: number;

  private constructor(
    private readonly sodium: Sodium,
    readonly path: string,
    private readonly key: Uint8Array,
    private readonly kdf: KeystoreFile['kdf'],
    state: AuthenticatorState,
  ) {
    this.#state = state;
    this.#mtimeMs = safeMtime(path);
  }

  static exists(path: string): boolean {
    return readFileIfExists(path) !== undefined;
  }

  static async create(sodium: Sodium, path: string, passphrase: string, state: AuthenticatorState, opts: { kdfCost?: KdfCost } = {}): Promise<Keystore> {
    if (Keystore.exists(path)) {
      throw new LatchError('already_initialized', `an authenticator already exists at ${dirname(path)}; use another LATCH_HOME or remove it first`);
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const kdf = {
      alg: 'argon2id13' as const,
      ...kdfLimits(sodium, opts.kdfCost ?? 'interactive'),
      salt: encodeBase64url(sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES)),
    };
    const ks = new Keystore(sodium, path, deriveKey(sodium, passphrase, kdf), kdf, state);
    await ks.#withLock(() => {
      // Checked again under the lock: two concurrent `device init` must not overwrite each other.
      if (Keystore.exists(path)) throw new LatchError('already_initialized', `an authenticator already exists at ${dirname(path)}`);
      ks.#write(state);
    });
    return ks;
  }

  static async open(sodium: Sodium, path: string, passphrase: string): Promise<Keystore> {
    const text = readFileIfExists(path);
    if (text === undefined) {
      throw new LatchError('not_initialized', `no authenticator at ${dirname(path)}: run \`latch device init --name NAME\` first`);
    }
    const file = parseFile(text);
    const key = deriveKey(sodium, passphrase, file.kdf);
    return new Keystore(sodium, path, key, file.kdf, decrypt(sodium, key, file));
  }

  /**
   * Whether `passphrase` opens this keystore: WebAuthn user verification on `latch device run`
   * (docs/BROWSER.md "User verification"). Derives the key with the stored KDF (Argon2id, so a
   * guess costs what unlocking does) and compares it in constant time; nothing is logged.
   */
  verifyPassphrase(passphrase: string): boolean {
    const key = deriveKey(this.sodium, passphrase, this.kdf);
    try {
      return this.sodium.memcmp(key, this.key);
    } finally {
      key.fill(0);
    }
  }

  /** A snapshot; change state only through update(). */
  get state(): AuthenticatorState {
    return this.#state;
  }

  /** Re-read if another process wrote the file. Returns whether anything changed. */
  reloadIfChanged(): boolean {
    const m = safeMtime(this.path);
    if (m === this.#mtimeMs) return false;
    this.#state = decrypt(this.sodium, this.key, parseFile(readFileSync(this.path, 'utf8')));
    this.#mtimeMs = m;
    return true;
  }

  /** Read-modify-write under the lock, against the newest file on disk. */
  async update<T>(fn: (state: AuthenticatorState) => T): Promise<T> {
    return this.transact((s) => ({ write: true, value: fn(s) }));
  }

  /**
   * Read-modify-write under the lock with an asynchronous step in between (a refresh-token
   * exchange, which must not run twice for one stored token). Writes only when `fn` resolves.
   */
  async updateAsync<T>(fn: (state: AuthenticatorState) => Promise<T>): Promise<T> {
    return this.#withLock(async () => {
      const current = decrypt(this.sodium, this.key, parseFile(readFileSync(this.path, 'utf8')));
      const value = await fn(current);
      this.#write(current);
      return value;
    });
  }

  /**
   * Read-check-write under the lock; writes only when `fn` says so (a cache hit need not
   * cost a disk write). Always refreshes the in-memory state from disk.
   */
  async transact<T>(fn: (state: AuthenticatorState) => { write: boolean; value: T }): Promise<T> {
    return this.#withLock(() => this.transactLocked(fn));
  }

  /** transact() for a caller that already holds the lock (withLock): the replay journal's compaction. */
  transactLocked<T>(fn: (state: AuthenticatorState) => { write: boolean; value: T }): T {
    const current = decrypt(this.sodium, this.key, parseFile(readFileSync(this.path, 'utf8')));
    const { write, value } = fn(current);
    if (write) this.#write(current);
    else {
      this.#state = current;
      this.#mtimeMs = safeMtime(this.path);
    }
    return value;
  }

  /** Runs `fn` holding the keystore lock; the replay journal beside the keystore shares it. */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#withLock(fn);
  }

  #write(state: AuthenticatorState): void {
    const nonce = this.sodium.randombytes_buf(this.sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    const plain = new TextEncoder().encode(JSON.stringify(state));
    const ciphertext = this.sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, AAD, null, nonce, this.key);
    plain.fill(0);
    const file: KeystoreFile = {
      format: 'latch-keystore',
      v: 1,
      kdf: this.kdf,
      nonce: encodeBase64url(nonce),
      ciphertext: encodeBase64url(ciphertext),
    };
    writeFileAtomic(this.path, JSON.stringify(file, null, 1) + '\n');
    this.#state = state;
    this.#mtimeMs = safeMtime(this.path);
  }

  #withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return withFileLock(join(dirname(this.path), 'keystore.lock'), fn, { what: 'the keystore' });
  }

}

function safeMtime(path: string): number {
  try {
    const s = statSync(path);
    return s.mtimeMs + s.ino; // ino changes on every atomic rename, mtime alone can tie
  } catch {
    return -1;
  }
}

/**
 * How much work the passphrase KDF (Argon2id) costs, in libsodium's named levels; stored in the
 * keystore file, so opening uses whatever the file was made with. `interactive` is the default
 * (about 0.4 s here). `min` is for tests and throwaway authenticators only: it makes a stolen
 * keystore file as cheap to guess at as a fast hash (docs/AUTHENTICATOR.md). Like ssh-keygen -a.
 */
export type KdfCost = 'min' | 'interactive' | 'moderate' | 'sensitive';
export const KDF_COSTS: readonly KdfCost[] = ['min', 'interactive', 'moderate', 'sensitive'];

function kdfLimits(sodium: Sodium, cost: KdfCost): { opslimit: number; memlimit: number } {
  switch (cost) {
    case 'min':
      return { opslimit: sodium.crypto_pwhash_OPSLIMIT_MIN, memlimit: sodium.crypto_pwhash_MEMLIMIT_MIN };
    case 'interactive':
      return { opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE };
    case 'moderate':
      return { opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE };
    case 'sensitive':
      return { opslimit: sodium.crypto_pwhash_OPSLIMIT_SENSITIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_SENSITIVE };
    default:
      throw new TypeError(`unknown KDF cost ${String(cost)}`);
  }
}

function deriveKey(sodium: Sodium, passphrase: string, kdf: KeystoreFile['kdf']): Uint8Array {
  return sodium.crypto_pwhash(
    sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    passphrase,
    decodeBase64url(kdf.salt, 'keystore salt'),
    kdf.opslimit,
    kdf.memlimit,
    sodium.crypto_pwhash_ALG_ARGON2ID13,
  );
}

function parseFile(text: string): KeystoreFile {
  let f: KeystoreFile;
  try {
    f = JSON.parse(text) as KeystoreFile;
  } catch {
    throw new LatchError('keystore_damaged', 'the keystore file is not valid JSON');
  }
  if (f?.format !== 'latch-keystore' || f.v !== 1 || f.kdf?.alg !== 'argon2id13') {
    throw new LatchError('keystore_damaged', 'the keystore file has an unknown format or version');
  }
  return f;
}

function decrypt(sodium: Sodium, key: Uint8Array, file: KeystoreFile): AuthenticatorState {
  let plain: Uint8Array;
  try {
    plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      decodeBase64url(file.ciphertext, 'keystore'),
      AAD,
      decodeBase64url(file.nonce, 'keystore nonce'),
      key,
    );
  } catch {
    throw new LatchError('bad_passphrase', 'wrong passphrase, or the keystore file is damaged');
  }
  return JSON.parse(new TextDecoder().decode(plain)) as AuthenticatorState;
}
