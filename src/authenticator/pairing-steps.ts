/**
 * Pairing, authenticator side (PROTOCOL.md §4, steps 2 and 4), whatever stores the result.
 * Step 2: send our session key and inbox queue in a sealed box to the queue named in the link.
 * Step 3 arrives as a boxed pair_hello request; the caller's `adopt` stores the pairing and
 * answers it (step 4) through its request handler, so a replayed hello gets the same cached
 * answer. `latch device pair` and the web authenticator both run this. Browser-safe.
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
import type { StoredPairing } from './authenticator-state.js';
import { describe, type Log, type Send } from './request-core.js';

export const PAIRING_TAKEN_MESSAGE =
  'another authenticator already paired with this link; if that was not you, run `latch pair` again on the computer and compare the check codes';

export async function pairAsAuthenticator(opts: {
  sodium: Sodium;
  link: PairingLink;
  relay: RelayClient;
  timeoutSeconds: number;
  log: Log;
  onCheckCode: (code: string) => void;
  /** Store the pairing first, then answer the hello (`send` reaches the computer). */
  adopt: (pairing: StoredPairing, hello: Uint8Array, send: Send) => Promise<void>;
  signal?: AbortSignal;
}): Promise<StoredPairing> {
  const { sodium, link, relay, log } = opts;
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
  const onOuterAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const timer = setTimeout(() => abort.abort(), opts.timeoutSeconds * 1000);
  try {
    for await (const message of relay.inbox(queueKey, { signal: abort.signal })) {
      let parsed;
      try {
        parsed = parseMessage(openBoxedMessage(sodium, message.body, link.computerPublicKey, session.privateKey));
      } catch (e) {
        log(`ignored a message that is not from the computer: ${describe(e)}`);
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
      // Store first, then answer: if we die in between, the computer retries and whatever
      // serves this stored pairing answers the same hello.
      await opts.adopt(pairing, message.body, (env) => relay.send(pairing.computerQueue, env).then(() => undefined));
      await relay.ack(queueKey, [message.id]);
      return pairing;
    }
    if (opts.signal?.aborted) throw new LatchError('pairing_cancelled', 'pairing was cancelled');
    throw new LatchError('pairing_timeout', `the computer did not answer within ${opts.timeoutSeconds} s; is \`latch pair\` still waiting?`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
    abort.abort();
  }
}
