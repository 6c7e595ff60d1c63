/**
 * The web authenticator's long-term SSH key, made with WebCrypto and NOT extractable: no code
 * path can read the private key out, only ask the browser to sign with it. Ed25519 where the
 * browser has it (Chromium, Firefox, Safari 17+), else ECDSA P-256. Browser-only.
 */
import { encodeBase64 } from '../protocol/base64url.js';
import { ed25519PublicKeyBlob, p256PublicKeyBlob } from '../protocol/ssh/ssh-public-key.js';
import type { SshKeyInfo } from '../protocol/messages.js';
import type { WebSshKey } from './web-store.js';

export async function generateWebSshKey(name: string, now: number, opts: { forceP256?: boolean } = {}): Promise<WebSshKey> {
  if (!opts.forceP256) {
    try {
      const kp = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
      const raw = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
      return { name, type: 'ssh-ed25519', publicBlob: encodeBase64(ed25519PublicKeyBlob(raw)), privateKey: kp.privateKey, publicKey: kp.publicKey, createdAt: now };
    } catch {
      // No Ed25519 in this browser's WebCrypto: fall through to P-256.
    }
  }
  const kp = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey)); // 0x04 ‖ x ‖ y
  return { name, type: 'ecdsa-sha2-nistp256', publicBlob: encodeBase64(p256PublicKeyBlob(raw)), privateKey: kp.privateKey, publicKey: kp.publicKey, createdAt: now };
}

/** The wire form: public parts only (same shape as the Node authenticator's sshKeyInfo). */
export function webSshKeyInfo(key: WebSshKey): SshKeyInfo {
  return { name: key.name, public_key: `${key.type} ${key.publicBlob} ${key.name}` };
}
