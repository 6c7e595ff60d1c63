/**
 * Server keys at rest: wrapped under a master key behind a KMS-shaped interface, so a real KMS
 * (wrap/unwrap calls) can replace the local one without touching the custody code.
 *
 * LocalMasterKey: 32-byte key from LATCH_MASTER_KEY (64 hex digits or base64url) or from
 * DATA/master.key, created 0600 on first start. Wrapping is XChaCha20-Poly1305 with a random
 * nonce and the key's purpose as associated data (a wrapped key can't be moved to another slot).
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';

export interface KeyVault {
  readonly kind: string;
  wrap(plain: Uint8Array, purpose: string): Promise<string>;
  unwrap(wrapped: string, purpose: string): Promise<Uint8Array>;
}

export class LocalMasterKey implements KeyVault {
  readonly kind = 'local';
  private constructor(private readonly sodium: Sodium, private readonly key: Uint8Array) {}

  static open(sodium: Sodium, dataDir: string, env: NodeJS.ProcessEnv = process.env): LocalMasterKey {
    const fromEnv = env.LATCH_MASTER_KEY;
    if (fromEnv !== undefined) return new LocalMasterKey(sodium, parseMasterKey(fromEnv));
    const file = join(dataDir, 'master.key');
    if (!existsSync(file)) {
      writeFileSync(file, encodeBase64url(sodium.randombytes_buf(32)) + '\n', { mode: 0o600, flag: 'wx' });
    }
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) chmodSync(file, 0o600); // never leave it readable by others
    return new LocalMasterKey(sodium, parseMasterKey(readFileSync(file, 'utf8').trim()));
  }

  async wrap(plain: Uint8Array, purpose: string): Promise<string> {
    const nonce = this.sodium.randombytes_buf(24);
    const c = this.sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, new TextEncoder().encode(purpose), null, nonce, this.key);
    return `v1.${encodeBase64url(nonce)}.${encodeBase64url(c)}`;
  }

  async unwrap(wrapped: string, purpose: string): Promise<Uint8Array> {
    const m = /^v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(wrapped);
    if (!m) throw new LatchError('master_key', 'a wrapped server key has an unknown format');
    try {
      return this.sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, decodeBase64url(m[2]!), new TextEncoder().encode(purpose), decodeBase64url(m[1]!), this.key);
    } catch {
      throw new LatchError('master_key', 'a server key does not open under this master key (wrong LATCH_MASTER_KEY?)', { status: 500 });
    }
  }
}

function parseMasterKey(text: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.from(Buffer.from(text, 'hex'));
  let b: Uint8Array;
  try {
    b = decodeBase64url(text, 'master key');
  } catch {
    throw new LatchError('master_key', 'LATCH_MASTER_KEY must be 32 bytes as 64 hex digits or base64url');
  }
  if (b.length !== 32) throw new LatchError('master_key', 'the master key must be 32 bytes');
  return b;
}
