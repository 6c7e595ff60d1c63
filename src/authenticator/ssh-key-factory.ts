/**
 * Makes the authenticator's SSH keys. Ed25519 is the default (issue 3 adds P-256). The secret
 * stays in the keystore; only the public blob ever leaves.
 */
import { p256 } from '@noble/curves/nist.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { p256PublicKeyBlob } from '../protocol/ssh/ssh-public-key.js';
import type { Sodium } from '../protocol/sodium.js';
import type { SshKeyInfo } from '../protocol/messages.js';
import type { StoredSshKey } from './authenticator-state.js';

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** RFC 8709 §4: string "ssh-ed25519" ‖ string key. */
export function ed25519PublicBlob(publicKey: Uint8Array): Uint8Array {
  const a = sshString(new TextEncoder().encode('ssh-ed25519'));
  const b = sshString(publicKey);
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function generateEd25519SshKey(sodium: Sodium, name: string, now: number): StoredSshKey {
  const kp = sodium.crypto_sign_keypair();
  return {
    name,
    type: 'ssh-ed25519',
    publicBlob: Buffer.from(ed25519PublicBlob(kp.publicKey)).toString('base64'),
    secret: encodeBase64url(kp.privateKey),
    createdAt: now,
  };
}

/** The wire form of a stored key: public parts only, built field by field. */
export function sshKeyInfo(key: StoredSshKey): SshKeyInfo {
  return { name: key.name, public_key: `${key.type} ${key.publicBlob} ${key.name}` };
}

/** ecdsa-sha2-nistp256 (RFC 5656): the secret is the 32-byte scalar, the blob holds the uncompressed point. */
export function generateP256SshKey(name: string, now: number): StoredSshKey {
  const secret = p256.utils.randomSecretKey();
  return {
    name,
    type: 'ecdsa-sha2-nistp256',
    publicBlob: Buffer.from(p256PublicKeyBlob(p256.getPublicKey(secret, false))).toString('base64'),
    secret: encodeBase64url(secret),
    createdAt: now,
  };
}
