/**
 * Test helper: one pairing as the authenticator stores it, with the computer's and the
 * session's key pairs, so a test can box requests to a RequestHandler and open its answers.
 */
import { join } from 'node:path';
import * as P from '../../src/protocol/index.js';
import { Keystore } from '../../src/authenticator/keystore.js';
import type { StoredPairing, StoredSshKey } from '../../src/authenticator/authenticator-state.js';
import { tempDir } from './latch-process.js';

export function testPairing(s: P.Sodium): { pairing: StoredPairing; computer: { publicKey: Uint8Array; privateKey: Uint8Array }; session: { publicKey: Uint8Array; privateKey: Uint8Array } } {
  const computer = s.crypto_box_keypair();
  const session = s.crypto_box_keypair();
  const queue = s.crypto_sign_keypair();
  const pairing: StoredPairing = {
    id: P.queueIdFromPublicKey(s, queue.publicKey),
    computerName: 'laptop',
    computerPublicKey: P.encodeBase64url(computer.publicKey),
    computerQueue: P.queueIdFromPublicKey(s, s.crypto_sign_keypair().publicKey),
    relayUrl: 'http://127.0.0.1:9',
    sessionPublicKey: P.encodeBase64url(session.publicKey),
    sessionSecretKey: P.encodeBase64url(session.privateKey),
    queuePublicKey: P.encodeBase64url(queue.publicKey),
    queueSecretKey: P.encodeBase64url(queue.privateKey),
    pairedAt: P.nowSeconds(),
  };
  return { pairing, computer, session };
}

/** A keystore file in a fresh temporary folder holding `pairing` (and `sshKeys`) and nothing else; returns its path. */
export async function keystoreWithPairing(s: P.Sodium, pairing: StoredPairing, passphrase: string, sshKeys: StoredSshKey[] = []): Promise<string> {
  const path = join(tempDir('ks'), 'keystore.json');
  await Keystore.create(s, path, passphrase, { v: 1, deviceId: P.encodeBase64url(new Uint8Array(16)), name: 'phone', createdAt: 0, sshKeys, pairings: [pairing], replay: [] });
  return path;
}
