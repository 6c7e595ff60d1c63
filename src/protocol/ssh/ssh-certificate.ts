/**
 * OpenSSH certificates (PROTOCOL.certkeys): `ssh-ed25519-cert-v01@openssh.com`,
 * `ecdsa-sha2-nistp{256,384,521}-cert-v01@openssh.com` and `ssh-rsa-cert-v01@openssh.com`.
 * A server whose host key is a certificate sends the certificate blob as its host key, in the
 * key exchange and so in `session-bind@openssh.com`; the signature over the session id is made
 * by the certified (plain) key. Parsing is strict; the CA's signature is checked by
 * `verifySshCertificate`, as OpenSSH's cert_parse does before anyone uses the key. Pure;
 * browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { SshReader, SshWriter } from './ssh-wire.js';
import { isEcdsaKeyType, parseSshPublicKey, sshFingerprint } from './ssh-public-key.js';
import { verifySshSignature } from './ssh-signature.js';

const CERT_SUFFIX = '-cert-v01@openssh.com';
/** PROTOCOL.certkeys: "type" is SSH2_CERT_TYPE_USER (1) or SSH2_CERT_TYPE_HOST (2). */
export const SSH_CERT_TYPE_HOST = 2;

export interface SshCertificate {
  /** The whole certificate blob, as sent. */
  blob: Uint8Array;
  /** The certified key as a plain public key blob (what signs for the host). */
  keyBlob: Uint8Array;
  serial: bigint;
  certType: number;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch; validBefore 2^64-1 means "forever". */
  validAfter: bigint;
  validBefore: bigint;
  caKeyBlob: Uint8Array;
  /** The bytes the CA signed: the blob up to (not including) the signature. */
  signedBytes: Uint8Array;
  signature: Uint8Array;
}

export function isCertificateType(type: string): boolean {
  return type.endsWith(CERT_SUFFIX);
}

function bad(detail: string): LatchError {
  return new LatchError('ssh_bad_certificate', `SSH certificate: ${detail}`);
}

/** Parse a certificate blob (strict: known types, valid certified and CA keys, no trailing bytes). */
export function parseSshCertificate(blob: Uint8Array): SshCertificate {
  const r = new SshReader(blob, 'SSH certificate');
  const type = r.utf8();
  if (!isCertificateType(type)) throw bad(`not a certificate type (${JSON.stringify(type.slice(0, 64))})`);
  const plainType = type.slice(0, -CERT_SUFFIX.length);
  r.string(); // nonce
  const keyStart = r.offset;
  if (plainType === 'ssh-ed25519') r.string();
  else if (isEcdsaKeyType(plainType)) {
    r.string();
    r.string();
  } else if (plainType === 'ssh-rsa') {
    r.mpint();
    r.mpint();
  } else throw new LatchError('ssh_unsupported_key', `unsupported certificate type ${JSON.stringify(type.slice(0, 64))}`);
  const keyBlob = new SshWriter().string(plainType).raw(blob.subarray(keyStart, r.offset)).bytes();
  parseSshPublicKey(keyBlob); // lengths, curve points, RSA size: the same rules as a plain key
  const serial = r.uint64();
  const certType = r.uint32();
  const keyId = r.utf8();
  const principals: string[] = [];
  const pr = new SshReader(r.string(), 'certificate principals');
  while (pr.remaining > 0) principals.push(pr.utf8());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  r.string(); // critical options
  r.string(); // extensions
  r.string(); // reserved
  const caKeyBlob = r.string().slice();
  // PROTOCOL.certkeys: the CA key may not itself be a certificate.
  parseSshPublicKey(caKeyBlob);
  const signedEnd = r.offset;
  const signature = r.string().slice();
  r.expectEnd();
  return { blob: blob.slice(), keyBlob, serial, certType, keyId, principals, validAfter, validBefore, caKeyBlob, signedBytes: blob.slice(0, signedEnd), signature };
}

/** Whether the CA's signature over the certificate verifies (false, never a throw, for a bad one). */
export async function verifySshCertificate(cert: SshCertificate): Promise<boolean> {
  try {
    return await verifySshSignature(cert.caKeyBlob, cert.signature, cert.signedBytes);
  } catch {
    return false;
  }
}

/** A host key as sent by a server: a plain key, or a certificate over one. */
export interface HostKey {
  /** The blob as sent (the certificate blob for a certificate). */
  blob: Uint8Array;
  /** The key that signs for the host: the blob itself, or the certified key. */
  keyBlob: Uint8Array;
  cert?: SshCertificate;
}

/** Parse a host key blob, plain or certificate; throws LatchError when it is neither. */
export function parseHostKey(blob: Uint8Array): HostKey {
  const type = new SshReader(blob, 'SSH public key blob').utf8();
  if (isCertificateType(type)) {
    const cert = parseSshCertificate(blob);
    if (cert.certType !== SSH_CERT_TYPE_HOST) throw bad('a user certificate is not a host key');
    return { blob: cert.blob, keyBlob: cert.keyBlob, cert };
  }
  parseSshPublicKey(blob);
  return { blob: blob.slice(), keyBlob: blob.slice() };
}

/** For a person: "CA SHA256:..., principals a, b, valid 2026-01-01 .. forever". */
export function describeHostCertificate(cert: SshCertificate): string {
  const when = (t: bigint): string => (t >= 0xffffffffffffffffn ? 'forever' : t === 0n ? 'always' : new Date(Number(t) * 1000).toISOString().slice(0, 16).replace('T', ' '));
  const principals = cert.principals.length ? cert.principals.join(', ') : '(any host)';
  return `signed by CA ${sshFingerprint(cert.caKeyBlob)}, principals ${principals}, valid ${when(cert.validAfter)} .. ${when(cert.validBefore)}`;
}
