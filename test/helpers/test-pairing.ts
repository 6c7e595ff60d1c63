/**
 * Test helper: one pairing as the authenticator stores it, with the computer's and the
 * session's key pairs, so a test can box requests to a RequestHandler and open its answers.
 */
import * as P from '../../src/protocol/index.js';
import type { StoredPairing } from '../../src/authenticator/authenticator-state.js';

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
