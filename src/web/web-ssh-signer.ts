/**
 * Signs with the web authenticator's non-extractable WebCrypto SSH key, and only after the
 * cross-protocol guard (issue 3, "No cross-protocol signing"; sign-data-guard.ts): the data
 * must be an SSH userauth request naming this very key, or an SSHSIG signed-data blob.
 *   ssh-ed25519:          RFC 8709 §6: Ed25519 over the data itself; WebCrypto returns the
 *                         64 raw bytes (RFC 8032), wrapped as the SSH blob.
 *   ecdsa-sha2-nistp256:  RFC 5656 §6.2.1: ECDSA with SHA-256 over the data; WebCrypto returns
 *                         IEEE P1363 r‖s (WebCrypto §23.4 "ECDSA"), which RFC 5656 §3.1.2
 *                         wants as `string algorithm, string (mpint r, mpint s)`.
 * Browser-safe (WebCrypto is global in browsers and Node 20).
 */
import { decodeBase64 } from '../protocol/base64url.js';
import { ed25519SignatureBlob, p256SignatureBlob } from '../protocol/ssh/ssh-signature.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import type { WebSshKey } from './web-store.js';

/** Guard, then sign; returns the SSH signature blob (RFC 4253 §6.6). */
export async function webSignSshData(key: Pick<WebSshKey, 'type' | 'publicBlob' | 'privateKey'>, data: Uint8Array): Promise<Uint8Array> {
  parseSshSignDataForKey(decodeBase64(key.publicBlob, 'stored key'), data);
  const bytes = new Uint8Array(data); // a copy on its own ArrayBuffer, as BufferSource wants
  if (key.type === 'ssh-ed25519') {
    return ed25519SignatureBlob(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, bytes)));
  }
  return p256SignatureBlob(new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, bytes)));
}
