/**
 * The authenticator acts on a request at most once (PROTOCOL.md §5.5): across two processes
 * sharing a keystore, across a crash between acting and remembering, at the edge of the
 * freshness window, and for an unpair whose answer could not be sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as P from '../src/protocol/index.js';
import { Keystore } from '../src/authenticator/keystore.js';
import { RequestHandler } from '../src/authenticator/request-handler.js';
import { keystoreWithPairing, testPairing } from './helpers/test-pairing.js';

const PASS = 'test passphrase';

async function setup() {
  const s = await P.sodiumReady();
  const { pairing, computer, session } = testPairing(s);
  const path = await keystoreWithPairing(s, pairing, PASS);
  const envelope = (m: P.RequestMessage): Uint8Array => P.boxMessageRandom(s, P.encodeMessage(m), session.publicKey, computer.privateKey);
  const open = (env: Uint8Array): { text: string; msg: P.ResponseMessage } => {
    const bytes = P.openBoxedMessage(s, env, session.publicKey, computer.privateKey);
    return { text: new TextDecoder().decode(bytes), msg: P.parseMessage(bytes) as P.ResponseMessage };
  };
  const request = (body: P.RequestBody, unixSeconds = P.nowSeconds()): P.RequestMessage => ({ v: 1, type: 'request', request_id: P.newRequestId(s), unix_seconds: unixSeconds, body });
  return { s, path, pairing, envelope, open, request };
}

test('two processes with one keystore: the second answers from the cache, it does not act again', async () => {
  const { s, path, pairing, envelope, open, request } = await setup();
  const ks1 = await Keystore.open(s, path, PASS);
  const ks2 = await Keystore.open(s, path, PASS); // opened before ks1 handled anything: stale in memory
  const logs: string[] = [];
  const h1 = new RequestHandler(s, ks1, (l) => logs.push(l));
  const h2 = new RequestHandler(s, ks2, (l) => logs.push(l));
  const env = envelope(request({ kind: 'me' }));
  const out: Uint8Array[] = [];
  await h1.handle(pairing, env, async (e) => void out.push(e));
  await h2.handle(pairing, env, async (e) => void out.push(e));
  assert.equal(out.length, 2);
  assert.equal(open(out[1]!).text, open(out[0]!).text);
  assert.ok(logs.some((l) => /answered from cache/.test(l)), logs.join('\n'));
  // The claim and the answer went to the replay journal, not into a rewritten keystore (§5.5).
  const ks3 = await Keystore.open(s, path, PASS);
  assert.equal(ks3.state.replay.length, 0);
  await new RequestHandler(s, ks3, (l) => logs.push(l)).handle(pairing, env, async (e) => void out.push(e));
  assert.equal(open(out[2]!).text, open(out[0]!).text, 'a third process reads the answer from the journal');
});

test('a request claimed by a process that died is refused, never acted on a second time', async () => {
  const { s, path, pairing, envelope, open, request } = await setup();
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  const req = request({ kind: 'unpair' });
  const env = envelope(req);
  const hash = P.requestHash(s, P.encodeMessage(req));
  const ks = await Keystore.open(s, path, PASS);
  await ks.update((st) => {
    st.replay.push({ requestId: req.request_id, requestHash: hash, response: '', at: P.nowSeconds(), requestSeconds: req.unix_seconds, pid: Number(dead) });
  });
  const out: Uint8Array[] = [];
  const h = new RequestHandler(s, ks, () => undefined);
  await h.handle(pairing, env, async (e) => void out.push(e));
  assert.equal(open(out[0]!).msg.error?.code, 'request_interrupted');
  assert.equal(ks.state.pairings.length, 1, 'the interrupted unpair was not applied now');
  await h.handle(pairing, env, async (e) => void out.push(e));
  assert.equal(open(out[1]!).text, open(out[0]!).text, 'and the refusal is what a replay gets');
});

test('an unpair whose answer could not be sent is still applied, and the redelivery gets the answer', async () => {
  const { s, path, pairing, envelope, open, request } = await setup();
  const ks = await Keystore.open(s, path, PASS);
  const h = new RequestHandler(s, ks, () => undefined);
  const env = envelope(request({ kind: 'unpair' }));
  await assert.rejects(h.handle(pairing, env, async () => Promise.reject(new Error('relay down'))), /relay down/);
  assert.equal((await Keystore.open(s, path, PASS)).state.pairings.length, 0);
  const out: Uint8Array[] = [];
  await h.handle(pairing, env, async (e) => void out.push(e));
  assert.deepEqual(open(out[0]!).msg.result, {});
});

test('the cache outlives the freshness window at its edge (request 15 min ahead, replayed 30 min later)', async () => {
  const { s, path, pairing, envelope, open, request } = await setup();
  const t0 = P.nowSeconds();
  let now = t0;
  const ks = await Keystore.open(s, path, PASS);
  const logs: string[] = [];
  const h = new RequestHandler(s, ks, (l) => logs.push(l), () => now);
  const env = envelope(request({ kind: 'me' }, t0 + 900));
  const out: Uint8Array[] = [];
  await h.handle(pairing, env, async (e) => void out.push(e));
  now = t0 + 1800; // the request (t0+900) is still fresh here
  await h.handle(pairing, env, async (e) => void out.push(e));
  assert.equal(open(out[1]!).text, open(out[0]!).text);
  assert.ok(logs.some((l) => /answered from cache/.test(l)));
  now = t0 + 900 + 901; // now stale: refused as stale, not acted on
  const stale = envelope(request({ kind: 'me' }, t0 + 900));
  await h.handle(pairing, stale, async (e) => void out.push(e));
  assert.equal(open(out[2]!).msg.error?.code, 'stale_message');
});
