/**
 * `latch device run`'s loop (issue 9): it takes the next request once the answer to the last one
 * is written, without waiting for the relay to confirm storing that answer; and it acks a request
 * to the relay only after the relay stored every reply to it, so an answer the relay never took
 * leaves its request to be delivered again (and answered from the replay cache, §5.5).
 *
 * The relay here is a stand-in that holds one reply unconfirmed, which a real relay cannot be
 * made to do on demand; the keystore, journal and request handling are the real ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../src/protocol/index.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { runDevice } from '../src/authenticator/device-runner.js';
import type { RelayClient, RelayMessage } from '../src/transport/relay-client.js';
import { keystoreWithPairing, testPairing } from './helpers/test-pairing.js';

test('device run answers the next request while the relay has not confirmed the last answer, and acks each request only after its answer was stored', { timeout: 20_000 }, async () => {
  const s = await P.sodiumReady();
  const { pairing, computer, session } = testPairing(s);
  const path = await keystoreWithPairing(s, pairing, 'test passphrase');
  const keystore = await Keystore.open(s, path, 'test passphrase');

  const requests = [1, 2].map((n) => {
    const request: P.RequestMessage = { v: 1, type: 'request', request_id: P.newRequestId(s), unix_seconds: P.nowSeconds(), body: { kind: 'me' } };
    const message: RelayMessage = { id: String(n), body: P.boxMessageRandom(s, P.encodeMessage(request), session.publicKey, computer.privateKey), receivedAt: P.nowSeconds() };
    return { request, message };
  });
  const answered: string[] = [];
  const acked: string[] = [];
  let confirmFirst!: () => void;
  let secondAcked!: () => void;
  const secondAckedP = new Promise<void>((r) => (secondAcked = r));
  const relay = {
    // Both requests are delivered at once, as the socket delivers them.
    inboxes: (_queues: unknown, opts: { signal: AbortSignal }) => ({
      async *[Symbol.asyncIterator]() {
        for (const r of requests) yield { queueId: pairing.id, message: r.message };
        await new Promise<void>((r) => opts.signal.addEventListener('abort', () => r(), { once: true }));
      },
    }),
    send: (queue: string, envelope: Uint8Array) => {
      assert.equal(queue, pairing.computerQueue);
      const answer = P.parseMessage(P.openBoxedMessage(s, envelope, session.publicKey, computer.privateKey));
      assert.equal(answer.type, 'response');
      answered.push(answer.request_id);
      // The first answer stays unconfirmed until the test says so; the second is stored at once.
      if (answer.request_id === requests[0]!.request.request_id) return new Promise((r) => (confirmFirst = () => r({ id: '10' })));
      return Promise.resolve({ id: '11' });
    },
    ack: async (_queue: unknown, ids: string[]) => {
      acked.push(...ids);
      if (ids.includes('2')) secondAcked();
    },
  } as unknown as RelayClient;

  const abort = new AbortController();
  const running = runDevice({ sodium: s, keystore, relayFor: () => relay, log: () => undefined, signal: abort.signal, pollMs: 50 });
  try {
    // Bounded, so that a loop stuck on the first answer fails here instead of hanging the run.
    assert.equal(await within(secondAckedP, 10_000), true, 'the second request was never acked');
    // The second request was answered and acked while the first answer was still unconfirmed...
    assert.deepEqual(answered, requests.map((r) => r.request.request_id));
    // ...and the first request was not acked: its answer may never have reached the relay.
    assert.deepEqual(acked, ['2']);
    confirmFirst();
    for (let i = 0; i < 100 && acked.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(acked, ['2', '1']);
  } finally {
    abort.abort();
    confirmFirst?.();
    // A loop stuck on a send never ends; the test must still end (and report why).
    await within(running, 2_000);
  }
});

/** Whether `p` settled within `ms`; the timer goes either way, so it cannot hold the process. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
