/**
 * The certificate and key of `latch server --tls-cert FILE --tls-key FILE`, read from disk.
 * Read again on SIGHUP (certbot/acme.sh renewals rewrite the files in place), so they are
 * checked here as a pair before the server swaps to them: a half-written renewal or a key
 * that does not match the certificate keeps the old pair serving and says why.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { LatchError } from '../util/latch-error.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the leaf certificate (DER), colon-separated hex as browsers and openssl print it. */
  fingerprint256: string;
  /** The leaf's notAfter, as X509Certificate prints it. */
  validTo: string;
}

export function loadTlsFiles(files: TlsFiles): LoadedTls {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new LatchError('tls_unreadable', `cannot read the TLS ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert); // the first certificate of a chain file is the leaf
  } catch {
    throw new LatchError('tls_bad_certificate', `${files.certFile} is not a PEM certificate (chain)`);
  }
  try {
    // The message never carries the key's bytes, only which file was wrong.
    if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('mismatch');
    createSecureContext({ cert, key }); // what the TLS server will do; fails early here instead
  } catch {
    throw new LatchError('tls_bad_key', `${files.keyFile} is not the private key of the certificate in ${files.certFile}`);
  }
  return { cert, key, fingerprint256: leaf.fingerprint256, validTo: leaf.validTo };
}
