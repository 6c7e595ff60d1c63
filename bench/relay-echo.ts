/**
 * The other end of agent-bench's relay round trip: a process that reads one queue as
 * `latch device run` reads a pairing's inbox (a socket subscription with early delivery, §3.6)
 * and sends each message's body on to a second queue, then acks it, as the authenticator sends
 * an answer and acks the request. It does no other work, so the round trip through it is the
 * relay's share of a sign round trip: the floor under any authenticator behind a relay.
 *
 *   node dist/bench/relay-echo.js <relay url> <inbox public key hex> <inbox secret key hex> <reply queue id>
 *
 * Prints "ready" once subscribed. Bench-only; never part of the product.
 */
import { RelayClient } from '../src/transport/relay-client.js';

const [url, publicKey, secretKey, replyQueue] = process.argv.slice(2);
if (!url || !publicKey || !secretKey || !replyQueue) {
  console.error('usage: relay-echo <relay url> <inbox public key hex> <inbox secret key hex> <reply queue id>');
  process.exit(2);
}
const inbox = { publicKey: Buffer.from(publicKey, 'hex'), secretKey: Buffer.from(secretKey, 'hex') };
const relay = new RelayClient({ url });
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
for await (const { message } of relay.inboxes([inbox], { early: true, signal: stop.signal, onStatus: (s) => s === 'connected' && console.log('ready') })) {
  // As device-runner.ts: the ack follows the reply once the relay stored it.
  relay.send(replyQueue, message.body).then(
    () => relay.ack(inbox, [message.id]),
    (e: unknown) => console.error(`relay-echo: ${(e as Error).message}`),
  ).catch((e: unknown) => console.error(`relay-echo: ${(e as Error).message}`));
}
