/**
 * Makes the authenticator's SSH keys. Ed25519 is the default (issue 3 adds P-256). The secret
 * stays in the keystore; only the public blob ever leaves.
 */
import { p256 } from '@noble/curves/nist.js';
import { encodeBase64, encodeBase64url } from '../protocol/base64url.js';
import { ed25519PublicKeyBlob, p256PublicKeyBlob } from '../protocol/ssh/ssh-public-key.js';
import type { Sodium } from '../protocol/sodium.js';
import type { SshKeyInfo } from '../protocol/messages.js';
import type { StoredSshKey } from './authenticator-state.js';

export function generateEd25519SshKey(sodium: Sodium, name: string, now: number): StoredSshKey {
  const kp = sodium.crypto_sign_keypair();
  return {
    name,
    type: 'ssh-ed25519',
    publicBlob: encodeBase64(ed25519PublicKeyBlob(kp.publicKey)),
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
    publicBlob: encodeBase64(p256PublicKeyBlob(p256.getPublicKey(secret, false))),
    secret: encodeBase64url(secret),
    createdAt: now,
  };
}
