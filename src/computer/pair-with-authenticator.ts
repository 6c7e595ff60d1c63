/**
 * Pairing, computer side (PROTOCOL.md §4, steps 1 and 3). Step 1 makes fresh keys and the link.
 * The first sealed offer that opens wins; we close the pairing queue at once (later offers get
 * 410 from the relay), then tell every offer that was already queued that it lost. Step 3 is a
 * pair_hello request; its response (step 4) names the authenticator and its SSH keys.
 */
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { checkCode } from '../protocol/check-code.js';
import { openPairingOffer, boxMessageRandom, type PairingOffer } from '../protocol/envelope.js';
import { encodeMessage, nowSeconds } from '../protocol/messages.js';
import { formatPairingLink, type PairingLink } from '../protocol/pairing-link.js';
import { PROTOCOL_VERSION } from '../protocol/protocol-constants.js';
import { queueIdFromPublicKey, type QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient, RelayMessage } from '../transport/relay-client.js';
import type { ComputerPairing } from './computer-state.js';
import { AuthenticatorClient } from './authenticator-client.js';

export interface PendingPairing {
  readonly link: PairingLink;
  /** The relay URL this computer uses; the link may name another route to the same relay. */
  readonly relayUrl: string;
  readonly linkText: string;
  /** In memory only; becomes part of the stored pairing once paired. */
  readonly box: { publicKey: Uint8Array; privateKey: Uint8Array };
  readonly pairingQueue: QueueKeyPair;
  readonly inbox: QueueKeyPair;
  readonly name: string;
}

/**
 * `linkRelayUrl`: the relay URL the authenticator is told (the relay's public URL), when it
 * differs from the `relayUrl` this computer reaches it at (e.g. 127.0.0.1 on the server itself).
 */
export function startPairing(sodium: Sodium, opts: { relayUrl: string; name: string; linkRelayUrl?: string }): PendingPairing {
  const box = sodium.crypto_box_keypair();
  const pq = sodium.crypto_sign_keypair();
  const iq = sodium.crypto_sign_keypair();
  const link: PairingLink = {
    version: PROTOCOL_VERSION,
    computerPublicKey: box.publicKey,
    queueId: queueIdFromPublicKey(sodium, pq.publicKey),
    name: opts.name,
    relayUrl: opts.linkRelayUrl ?? opts.relayUrl,
  };
  return {
    link,
    relayUrl: opts.relayUrl,
    linkText: formatPairingLink(link),
    box,
    pairingQueue: { publicKey: pq.publicKey, secretKey: pq.privateKey },
    inbox: { publicKey: iq.publicKey, secretKey: iq.privateKey },
    name: opts.name,
  };
}

export async function completePairing(
  sodium: Sodium,
  pending: PendingPairing,
  opts: { relay: RelayClient; timeoutSeconds: number; log: (line: string) => void; onOffer: (checkCode: string) => void },
): Promise<ComputerPairing> {
  const { relay, log } = opts;
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutSeconds * 1000);
  let offer: PairingOffer | undefined;
  try {
    for await (const message of relay.inbox(pending.pairingQueue, { signal: abort.signal })) {
      try {
        offer = openPairingOffer(sodium, message.body, pending.box.publicKey, pending.box.privateKey);
      } catch (e) {
        log(`ignored a pairing message that did not open: ${(e as Error).message}`);
        await relay.ack(pending.pairingQueue, [message.id]);
        continue;
      }
      await relay.ack(pending.pairingQueue, [message.id]);
      break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (!offer) {
    throw new LatchError('pairing_timeout', `no authenticator answered within ${opts.timeoutSeconds} s; scan the code or run \`latch device pair LINK\`, then try again`);
  }
  opts.onOffer(checkCode(sodium, pending.box.publicKey, offer.authenticatorPublicKey));

  // First one wins: close the queue, then turn away whoever was already queued behind it.
  await relay.close(pending.pairingQueue, 'paired');
  for await (const late of drain(relay, pending.pairingQueue)) {
    try {
      const loser = openPairingOffer(sodium, late.body, pending.box.publicKey, pending.box.privateKey);
      if (loser.authenticatorQueueId === offer.authenticatorQueueId && sodium.memcmp(loser.authenticatorPublicKey, offer.authenticatorPublicKey)) {
        // The winner's own offer stored twice: a send retried after a lost answer (§3: an HTTP
        // retry may store a second copy). Rejecting it would tell the winner it lost.
        log('ignored a second copy of the accepted pairing offer');
        await relay.ack(pending.pairingQueue, [late.id]);
        continue;
      }
      const reject = encodeMessage({ v: PROTOCOL_VERSION, type: 'pair_reject', unix_seconds: nowSeconds(), reason: 'already_paired' });
      await relay.send(loser.authenticatorQueueId, boxMessageRandom(sodium, reject, loser.authenticatorPublicKey, pending.box.privateKey));
      log('told a second authenticator that this link was already used');
    } catch (e) {
      log(`ignored a late pairing message: ${(e as Error).message}`);
    }
    await relay.ack(pending.pairingQueue, [late.id]);
  }

  const pairing: ComputerPairing = {
    deviceName: '',
    deviceId: '',
    sshKeys: [],
    relayUrl: pending.relayUrl,
    computerPublicKey: encodeBase64url(pending.box.publicKey),
    computerSecretKey: encodeBase64url(pending.box.privateKey),
    queuePublicKey: encodeBase64url(pending.inbox.publicKey),
    queueSecretKey: encodeBase64url(pending.inbox.secretKey),
    authenticatorPublicKey: encodeBase64url(offer.authenticatorPublicKey),
    authenticatorQueue: offer.authenticatorQueueId,
    pairedAt: nowSeconds(),
  };
  const client = new AuthenticatorClient(sodium, relay, pairing, log);
  try {
    const remaining = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const info = await client.request(
      { kind: 'pair_hello', name: pending.name, computer_queue: queueIdFromPublicKey(sodium, pending.inbox.publicKey) },
      { timeoutSeconds: remaining },
    );
    pairing.deviceName = info.name;
    pairing.deviceId = info.device_id;
    pairing.sshKeys = info.ssh_keys;
    pairing.lastSeen = nowSeconds();
  } finally {
    client.close();
  }
  return pairing;
}

/** Every message left on a queue, page by page (a racing crowd may exceed one page). */
async function* drain(relay: RelayClient, queue: QueueKeyPair): AsyncGenerator<RelayMessage> {
  let afterId: string | undefined;
  for (;;) {
    const page = await relay.receive(queue, { waitSeconds: 0, ...(afterId === undefined ? {} : { afterId }) });
    if (page.length === 0) return;
    yield* page;
    afterId = page[page.length - 1]!.id;
  }
}
