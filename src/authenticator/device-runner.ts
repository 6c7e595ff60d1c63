/**
 * `latch device run`: the authenticator waits on every pairing's inbox and answers requests.
 * It notices pairings added or removed by other processes (`latch device pair`) by watching the
 * keystore, and it acknowledges a message to the relay only after handling it, so nothing is
 * lost if it is killed half-way: the relay redelivers, and the replay cache answers.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import type { Keystore } from './keystore.js';
import { RequestHandler, type Log } from './request-handler.js';
import type { Approver } from './sign-review.js';

export async function runDevice(opts: {
  sodium: Sodium;
  keystore: Keystore;
  relayFor: (url: string) => RelayClient;
  log: Log;
  signal: AbortSignal;
  /** Called each time the set of watched pairings changes (and at start). */
  onWatching?: (pairings: number) => void;
  pollMs?: number;
  /** More inboxes to watch for the same lifetime, e.g. custody notices (issue 4). */
  extraLoops?: ((signal: AbortSignal) => Promise<void>)[];
  /** Who approves signatures (issue 3); default: deny all. */
  approver?: Approver;
}): Promise<void> {
  const { sodium, keystore, log, signal } = opts;
  const handler = new RequestHandler(sodium, keystore, log, undefined, { approver: opts.approver });
  while (!signal.aborted) {
    keystore.reloadIfChanged();
    const pairings = keystore.state.pairings;
    const generation = new AbortController();
    const stopGeneration = (): void => generation.abort();
    signal.addEventListener('abort', stopGeneration, { once: true });
    opts.onWatching?.(pairings.length);

    const byRelay = new Map<string, typeof pairings>();
    for (const p of pairings) byRelay.set(p.relayUrl, [...(byRelay.get(p.relayUrl) ?? []), p]);
    const loops = [...byRelay].map(async ([url, group]) => {
      const relay = opts.relayFor(url);
      const queues = group.map((p) => ({ publicKey: decodeBase64url(p.queuePublicKey), secretKey: decodeBase64url(p.queueSecretKey) }));
      for await (const { queueId, message } of relay.inboxes(queues, { signal: generation.signal, early: true, onError: (e) => log(`relay ${url}: cannot read requests (${e.code}: ${e.message}); retrying`) })) {
        const pairing = keystore.state.pairings.find((p) => p.id === queueId);
        const queue = queues[group.findIndex((p) => p.id === queueId)];
        if (!pairing || !queue) continue;
        // The loop goes on to the next request once this one is answered and its answer written,
        // not once the relay has confirmed storing the reply and the ack (two relay commits, which
        // held every next request up by 2-6 ms: issue 9). The ack still waits for the replies: a
        // request whose reply the relay never stored stays unacked, is delivered again, and is
        // answered from the replay cache (§5.5).
        const sends: Promise<void>[] = [];
        const fail = (e: unknown): void => log(`could not finish a request from ${pairing.computerName}: ${(e as Error).message}`);
        try {
          const handled = await handler.handle(pairing, message.body, (env) => {
            // Each after the one before it (an ack ahead of the answer), so they are stored in
            // order (a socket send and an HTTP retry could overtake each other); failed or not.
            const previous = sends.at(-1)?.catch(() => undefined) ?? Promise.resolve();
            const sent = previous.then(() => relay.send(pairing.computerQueue, env)).then(() => undefined);
            sends.push(sent);
            sent.catch(() => undefined); // reported once, below
            return Promise.resolve();
          });
          // 'busy': another handler holds the claim; it acks (or a later redelivery is answered).
          if (handled !== 'busy') void Promise.all(sends).then(() => relay.ack(queue, [message.id])).catch(fail);
        } catch (e) {
          // A local failure (disk): leave the message unacked so it is handled again.
          fail(e);
        }
      }
    });

    for (const extra of opts.extraLoops ?? []) loops.push(extra(generation.signal));

    // Watch for pairings added or removed by another process.
    const watcher = (async () => {
      while (!generation.signal.aborted) {
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
        try {
          if (keystore.reloadIfChanged() && sameSet(pairings, keystore.state.pairings) === false) generation.abort();
        } catch (e) {
          log(`could not re-read the keystore: ${(e as Error).message}`);
        }
      }
    })();
    await Promise.race([Promise.all(loops).then(() => new Promise<void>((r) => generation.signal.addEventListener('abort', () => r(), { once: true }))), watcher]);
    generation.abort();
    await Promise.allSettled([...loops, watcher]);
    signal.removeEventListener('abort', stopGeneration);
  }
}

function sameSet(a: readonly { id: string }[], b: readonly { id: string }[]): boolean {
  return a.length === b.length && a.every((p) => b.some((q) => q.id === p.id));
}
