/**
 * Throwaway TLS material for tests, made by the real `openssl` CLI: a private CA (what a
 * user's own CA or mkcert would be) and leaf certificates for localhost/127.0.0.1 signed by it;
 * and a browser HOME that trusts the CA (NSS certutil, Debian package libnss3-tools).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** As X509Certificate.fingerprint256 prints it (AA:BB:...). */
  fingerprint256: string;
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeTestCa(dir: string): TestCa {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', ...P256, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=Latch test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'pipe' });
  return { dir, certFile, keyFile };
}

/**
 * A HOME for Chromium whose NSS database (~/.pki/nssdb, what Chromium on Linux reads) trusts
 * `ca` for websites: what installing the CA on a phone does. Pages are then a real secure
 * context (no interstitial; service workers register), unlike with ignoreHTTPSErrors.
 */
export function homeTrustingCa(caCertFile: string, dir: string): string {
  const home = join(dir, 'browser-home');
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  execFileSync('certutil', ['-d', db, '-N', '--empty-password'], { stdio: 'pipe' });
  execFileSync('certutil', ['-d', db, '-A', '-t', 'C,,', '-n', 'Latch test CA', '-i', caCertFile], { stdio: 'pipe' });
  return home;
}

/** A leaf for `names` (DNS names and IP addresses), signed by `ca`, as files named after `label`. */
export function issueTestCert(ca: TestCa, label: string, names: string[] = ['localhost', '127.0.0.1']): TestCert {
  const certFile = join(ca.dir, `${label}.crt`);
  const keyFile = join(ca.dir, `${label}.key`);
  const csr = join(ca.dir, `${label}.csr`);
  const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  execFileSync('openssl', ['req', '-new', ...P256, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0]}`,
    '-addext', `subjectAltName=${san}`, '-addext', 'extendedKeyUsage=serverAuth'], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-days', '2',
    '-copy_extensions', 'copy', '-out', certFile], { stdio: 'pipe' });
  return { certFile, keyFile, fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256 };
}
