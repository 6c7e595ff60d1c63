/**
 * The replay journal of `latch device run` (PROTOCOL.md §5.5) with real processes: a kill -9
 * between claim and reply never leads to a second prompt or signature; a response answered
 * before a kill -9 is replayed byte for byte by the next process, also when the relay itself
 * redelivers a request whose ack it never heard; a torn tail is cut off
 * safely; an altered record stops the authenticator answering instead of letting it act twice;
 * the journal never holds a response in the clear.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSPHRASE, latchRun, newAuthenticator, pairComputer, sharedLatchServer } from './helpers/latch-process.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { latchPaths } from '../src/util/latch-paths.js';
import { latchInteractive, type Watched } from './helpers/latch-ssh-env.js';
import * as P from '../src/protocol/index.js';
import { RelayClient, type RelayMessage } from '../src/transport/relay-client.js';
import type { ComputerPairing } from '../src/computer/computer-state.js';
import { startWsFrameFilterProxy, type WsFrameFilterProxy } from './helpers/ws-frame-filter-proxy.js';

const COMMIT = 'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@example.com> 0 +0000\ncommitter A <a@example.com> 0 +0000\n\nreplay journal test\n';
const running: Watched[] = [];
const proxies: WsFrameFilterProxy[] = [];
after(async () => {
  for (const w of running) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  for (const p of proxies) await p.close();
});

/** With `proxy`, the pairing (and so `latch device run`) reaches the relay through a frame filter. */
async function world(opts: { proxy?: boolean } = {}) {
  const srv = await sharedLatchServer();
  const phone = await newAuthenticator('phone');
  const proxy = opts.proxy === true ? await startWsFrameFilterProxy(srv.port) : undefined;
  if (proxy) proxies.push(proxy);
  const computerHome = await pairComputer(proxy ? { ...srv, url: proxy.url } : srv, phone);
  const s = await P.sodiumReady();
  const p = JSON.parse(readFileSync(join(computerHome, 'computer.json'), 'utf8')).pairing as ComputerPairing;
  const client = new RelayClient({ url: srv.url });
  const inbox = { publicKey: P.decodeBase64url(p.queuePublicKey), secretKey: P.decodeBase64url(p.queueSecretKey) };
  const box = (m: P.Message): Uint8Array => P.boxMessageRandom(s, P.encodeMessage(m), P.decodeBase64url(p.authenticatorPublicKey), P.decodeBase64url(p.computerSecretKey));
  /** The next message for the computer that is not an `ack`. */
  const nextResponse = async (): Promise<{ text: string; msg: P.ResponseMessage }> => {
    for (;;) {
      const got: RelayMessage[] = await client.receive(inbox, { waitSeconds: 20, limit: 1 });
      const m = got[0];
      if (!m) continue;
      await client.ack(inbox, [m.id]);
      const bytes = P.openBoxedMessage(s, m.body, P.decodeBase64url(p.authenticatorPublicKey), P.decodeBase64url(p.computerSecretKey));
      const msg = P.parseMessage(bytes);
      if (msg.type === 'response') return { text: new TextDecoder().decode(bytes), msg };
    }
  };
  const keyLine = (await latchRun(['device', 'key', 'list'], { home: phone })).stdout.trim().split('\n')[0]!;
  const key = P.encodeBase64url(Buffer.from(keyLine.split(' ')[1]!, 'base64'));
  const signRequest = (): P.RequestMessage => ({
    v: 1,
    type: 'request',
    request_id: P.newRequestId(s),
    unix_seconds: P.nowSeconds(),
    body: { kind: 'sign_message', key, namespace: 'git', message: P.encodeBase64url(new TextEncoder().encode(COMMIT)) },
  });
  const send = (env: Uint8Array) => client.send(p.authenticatorQueue, env);
  const device = async (args: string[] = []): Promise<Watched> => {
    const w = latchInteractive(['device', 'run', ...args], phone);
    running.push(w);
    await w.waitFor(/waiting for requests from 1 paired computer/);
    return w;
  };
  const kill9 = async (w: Watched): Promise<void> => {
    const gone = new Promise((r) => w.child.once('exit', r));
    w.child.kill('SIGKILL');
    await gone;
  };
  return { phone, box, send, nextResponse, signRequest, device, kill9, proxy, journal: join(phone, 'authenticator', 'replay.journal') };
}

/** An ack to the relay, over the socket (§3.5) or over HTTP (§3.3). */
const isAck = (text: string): boolean => {
  if (/^POST \/v1\/queues\/[A-Za-z0-9_-]+\/ack /.test(text)) return true;
  try {
    return (JSON.parse(text) as { op?: unknown }).op === 'ack';
  } catch {
    return false;
  }
};

test('kill -9 between claim and reply: the redelivered request is refused (request_interrupted), never prompted or signed again', async () => {
  const w = await world();
  const first = await w.device();
  await w.send(w.box(w.signRequest()));
  // The prompt is up: the claim was made durable before it (§5.5). Die here, unanswered and unacked.
  await first.waitFor(/=== APPROVAL REQUEST ===/);
  await w.kill9(first);
  // The next process would sign anything (auto-approve): it must not get the chance.
  const second = await w.device(['--auto-approve']);
  const answer = await w.nextResponse();
  assert.equal(answer.msg.error?.code, 'request_interrupted');
  assert.equal(answer.msg.result, undefined);
  await second.waitFor(/was interrupted by a crash; refusing it/);
  assert.doesNotMatch(second.stderr(), /APPROVAL REQUEST/);
  await second.stop();
});

test('kill -9 after the reply: a redelivery to the next process is answered byte for byte from the journal, with no second signature', async () => {
  const w = await world();
  const first = await w.device(['--auto-approve']);
  const env = w.box(w.signRequest());
  await w.send(env);
  const answer = await w.nextResponse();
  assert.ok(answer.msg.result, JSON.stringify(answer.msg));
  await w.kill9(first);
  // The journal holds the answer sealed: its signature is nowhere in the file in the clear.
  const sig = (answer.msg.result as { signature: string }).signature;
  const journal = readFileSync(w.journal);
  assert.equal(journal.includes(Buffer.from(sig.slice(40, 120))), false);
  assert.equal(journal.includes(Buffer.from('replay journal test')), false);

  const second = await w.device(['--auto-approve']);
  await w.send(env); // the very same bytes, as a relay redelivers them
  const again = await w.nextResponse();
  assert.equal(again.text, answer.text);
  await second.waitFor(/replayed request .* answered from cache/);
  await second.stop();
  // ...and across a clean restart too (the journal may have been folded into the keystore by then).
  const third = await w.device(['--auto-approve']);
  await w.send(env);
  assert.equal((await w.nextResponse()).text, answer.text);
  await third.stop();
});

test('kill -9 between reply and ack: the relay redelivers the request, and the next process answers it from the journal with no prompt', async () => {
  const w = await world({ proxy: true });
  const proxy = w.proxy!;
  const first = await w.device(['--auto-approve']);
  proxy.drop = isAck; // the relay never hears this process's acks
  await w.send(w.box(w.signRequest()));
  const answer = await w.nextResponse();
  assert.ok(answer.msg.result, JSON.stringify(answer.msg));
  // The reply is out and the ack was sent but never reached the relay: the request is still
  // queued there, as after a kill between the two (§5.5).
  while (proxy.dropped === 0) await new Promise((r) => setTimeout(r, 20));
  await w.kill9(first);
  proxy.drop = () => false;
  // No --auto-approve: acting again would need a prompt, and there must be none.
  const second = await w.device();
  const again = await w.nextResponse(); // the relay's own redelivery, not a resend by the test
  assert.equal(again.text, answer.text);
  await second.waitFor(/replayed request .* answered from cache/);
  assert.doesNotMatch(second.stderr(), /APPROVAL REQUEST/);
  await second.stop();
});

test('a torn tail is cut off and the cache still answers; an altered record stops the authenticator acting', async () => {
  const w = await world();
  const first = await w.device(['--auto-approve']);
  const env = w.box(w.signRequest());
  await w.send(env);
  const answer = await w.nextResponse();
  await w.kill9(first);
  // A crash in the middle of an append: half a record at the end.
  appendFileSync(w.journal, Buffer.from([0, 0, 1, 0, 7, 7, 7]));
  const second = await w.device(['--auto-approve']);
  await w.send(env);
  assert.equal((await w.nextResponse()).text, answer.text, 'the torn tail cost nothing that was durable');
  const fresh = await (async () => {
    await w.send(w.box(w.signRequest()));
    return w.nextResponse();
  })();
  assert.ok(fresh.msg.result, 'appends go on after the cut');
  await w.kill9(second);

  // Flip one bit of the first record (not the tail): that is tampering, not a crash.
  const bytes = readFileSync(w.journal);
  assert.ok(bytes.length > 200, 'the journal holds records');
  bytes.writeUInt8(bytes.readUInt8(54) ^ 1, 54); // header 20 + length 4 + 30 bytes into the first record
  writeFileSync(w.journal, bytes);
  const third = await w.device(['--auto-approve']);
  await w.send(env);
  await third.waitFor(/could not finish a request .*replay journal was altered/);
  assert.doesNotMatch(third.stderr(), /answered from cache/);
  await third.stop();
});

test('an old keystore without a journal key gets one, and a stray journal it cannot have written is discarded', async () => {
  const w = await world();
  // Make the keystore an old one: pairing may already have given it a journal key.
  const ks = await Keystore.open(await P.sodiumReady(), latchPaths({ LATCH_HOME: w.phone }).keystoreFile, PASSPHRASE);
  await ks.update((s) => void delete s.replayJournalKey);
  writeFileSync(w.journal, Buffer.from('LRJ1not-our-journal-at-all'));
  const d = await w.device(['--auto-approve']);
  await w.send(w.box(w.signRequest()));
  assert.ok((await w.nextResponse()).msg.result);
  await d.stop();
});
