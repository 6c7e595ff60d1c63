/**
 * Pairing, authenticator side (PROTOCOL.md §4, steps 2 and 4). Step 2: send our session key
 * and inbox queue in a sealed box to the queue named in the link. Step 3 arrives as a boxed
 * pair_hello request; we store the pairing, then answer it (step 4) through the normal request
 * handler so a replayed hello gets the same cached answer.
 */
import { LatchError, isLatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { checkCode } from '../protocol/check-code.js';
import { sealPairingOffer, openBoxedMessage } from '../protocol/envelope.js';
import { parseMessage, checkFresh, nowSeconds } from '../protocol/messages.js';
import type { PairingLink } from '../protocol/pairing-link.js';
import { queueIdFromPublicKey } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import type { Keystore } from './keystore.js';
import type { StoredPairing } from './authenticator-state.js';
import { RequestHandler, type Log } from './request-handler.js';

export const PAIRING_TAKEN_MESSAGE =
  'another authenticator already paired with this link; if that was not you, run `latch pair` again on the computer and compare the check codes';

export async function pairWithComputer(opts: {
  sodium: Sodium;
  keystore: Keystore;
  link: PairingLink;
  relay: RelayClient;
  timeoutSeconds: number;
  log: Log;
  onCheckCode: (code: string) => void;
}): Promise<StoredPairing> {
  const { sodium, keystore, link, relay, log } = opts;
  const session = sodium.crypto_box_keypair();
  const queue = sodium.crypto_sign_keypair();
  const queueKey = { publicKey: queue.publicKey, secretKey: queue.privateKey };
  const queueId = queueIdFromPublicKey(sodium, queue.publicKey);

  opts.onCheckCode(checkCode(sodium, link.computerPublicKey, session.publicKey));

  try {
    await relay.send(link.queueId, sealPairingOffer(sodium, { authenticatorPublicKey: session.publicKey, authenticatorQueueId: queueId }, link.computerPublicKey));
  } catch (e) {
    if (isLatchError(e, 'queue_closed')) throw new LatchError('pairing_taken', PAIRING_TAKEN_MESSAGE);
    throw e;
  }

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutSeconds * 1000);
  try {
    for await (const message of relay.inbox(queueKey, { signal: abort.signal })) {
      let parsed;
      try {
        parsed = parseMessage(openBoxedMessage(sodium, message.body, link.computerPublicKey, session.privateKey));
      } catch (e) {
        log(`ignored a message that is not from the computer: ${(e as Error).message}`);
        await relay.ack(queueKey, [message.id]);
        continue;
      }
      if (parsed.type === 'pair_reject') {
        await relay.ack(queueKey, [message.id]);
        throw new LatchError('pairing_taken', PAIRING_TAKEN_MESSAGE);
      }
      if (parsed.type !== 'request' || parsed.body.kind !== 'pair_hello') {
        log(`ignored a ${parsed.type} message while pairing`);
        await relay.ack(queueKey, [message.id]);
        continue;
      }
      checkFresh(parsed.unix_seconds, nowSeconds());
      const pairing: StoredPairing = {
        id: queueId,
        computerName: parsed.body.name,
        computerPublicKey: encodeBase64url(link.computerPublicKey),
        computerQueue: parsed.body.computer_queue,
        relayUrl: link.relayUrl,
        sessionPublicKey: encodeBase64url(session.publicKey),
        sessionSecretKey: encodeBase64url(session.privateKey),
        queuePublicKey: encodeBase64url(queue.publicKey),
        queueSecretKey: encodeBase64url(queue.privateKey),
        pairedAt: nowSeconds(),
      };
      // Store first, then answer: if we die in between, the computer retries and a running
      // `latch device run` answers the same hello for this stored pairing.
      await keystore.update((s) => {
        s.pairings.push(pairing);
      });
      const handler = new RequestHandler(sodium, keystore, log);
      await handler.handle(pairing, message.body, (env) => relay.send(pairing.computerQueue, env).then(() => undefined));
      await relay.ack(queueKey, [message.id]);
      return pairing;
    }
    throw new LatchError('pairing_timeout', `the computer did not answer within ${opts.timeoutSeconds} s; is \`latch pair\` still waiting?`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
