/**
 * Notice inboxes (issue 15 §4) against a real `latch server`: registering one is signed by the
 * device key it speaks for, relay URLs are limited to the server's own relay or an allow-list,
 * and a relay that never answers neither holds a request open nor keeps a connection for ever.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer } from './helpers/latch-process.js';
import { cliLogin, custodyCall, json, sdkLogin } from './helpers/custody-env.js';
import { signInbox } from '../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey } from '../src/authenticator/custody-device-key.js';
import { newCustodyInbox } from '../src/authenticator/custody-inbox.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { custodyStoreOf } from './helpers/custody-pg.js';

test('an access token alone cannot replace a device\'s notice inbox', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const sodium = await sodiumReady();
  const { client, signer } = await sdkLogin(server, 'ada@example.com');
  const created = await client.createAccount({ deviceName: 'phone', inbox: newCustodyInbox(sodium, server.url).wire, device: signer });
  const token = created.access_token;
  const path = `/accounts/${created.address}/inbox`;
  const theirs = newCustodyInbox(sodium, server.url).wire;

  // The old, unsigned shape: refused.
  const unsigned = await custodyCall(server, 'POST', path, { token, body: theirs });
  assert.equal(unsigned.status, 400);
  assert.equal(unsigned.body.error?.code, 'missing_field');
  // Signed by the attacker's own key, with the victim's token: refused.
  const forged = await custodyCall(server, 'POST', path, { token, body: await signInbox(deviceSigner(newDeviceKey()), created.address, theirs) });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error?.code, 'bad_signature');
  // Signed by the device for no account (the shape `POST /accounts` takes), replayed here: refused.
  const otherScope = await custodyCall(server, 'POST', path, { token, body: await signInbox(signer, null, theirs) });
  assert.equal(otherScope.body.error?.code, 'bad_signature');
  // Signed long ago (a captured registration): refused.
  const old = await custodyCall(server, 'POST', path, { token, body: await signInbox(signer, created.address, theirs, Math.floor(Date.now() / 1000) - 3600) });
  assert.equal(old.body.error?.code, 'stale_signature');
  // The device itself may move its inbox; an older registration cannot then be replayed over it.
  const now = Math.floor(Date.now() / 1000);
  const older = await signInbox(signer, created.address, newCustodyInbox(sodium, server.url).wire, now - 10);
  assert.equal((await custodyCall(server, 'POST', path, { token, body: await signInbox(signer, created.address, theirs, now) })).status, 200);
  const replay = await custodyCall(server, 'POST', path, { token, body: older });
  assert.equal(replay.status, 409);
  assert.equal(replay.body.error?.code, 'stale_signature');
  // The inbox at account creation is signed too.
  const b = await sdkLogin(server, 'bob@example.com');
  const bt = (await b.client.refresh()).access_token;
  const unsignedCreate = await custodyCall(server, 'POST', '/accounts', { token: bt, body: { device_name: 'bob', inbox: theirs } });
  assert.equal(unsignedCreate.body.error?.code, 'bad_inbox');
});

test('relay_url: only the server\'s own relay or an allowed one; nothing is fetched otherwise', async () => {
  let hits = 0;
  const recorder = createHttpServer((_req, res) => {
    hits++;
    res.end('{}');
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  after(() => recorder.close());
  const recorderUrl = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`;
  const server = await startLatchServer();
  after(() => server.stop());
  const sodium = await sodiumReady();
  const { client, signer } = await sdkLogin(server, 'cy@example.com');
  for (const url of [`${recorderUrl}/admin/delete`, recorderUrl, 'http://169.254.169.254/latest/meta-data', `${server.url}/v1/queues`]) {
    const inbox = newCustodyInbox(sodium, url).wire;
    await assert.rejects(client.createAccount({ deviceName: 'phone', inbox, device: signer }), (e: { code?: string }) => e.code === 'relay_not_allowed', url);
  }
  // Its own relay, by the URL the client reached it at, is accepted.
  const { address } = await client.createAccount({ deviceName: 'phone', inbox: newCustodyInbox(sodium, server.url).wire, device: signer });
  await assert.rejects(client.registerInbox(address, newCustodyInbox(sodium, recorderUrl).wire, signer), (e: { code?: string }) => e.code === 'relay_not_allowed');
  assert.equal(hits, 0);
});

test('an allowed relay that never answers holds no request open, and its connection is timed out', { timeout: 120_000 }, async () => {
  // A "relay" that accepts connections and never answers.
  const sockets: Socket[] = [];
  let connected!: (s: Socket) => void;
  const firstConnection = new Promise<Socket>((r) => (connected = r));
  const tarpit = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.resume(); // read (and drop) the request, so the server's hang-up is seen
    connected(s);
  });
  await new Promise<void>((r) => tarpit.listen(0, '127.0.0.1', r));
  after(() => {
    for (const s of sockets) s.destroy();
    tarpit.close();
  });
  const tarpitUrl = `http://127.0.0.1:${(tarpit.address() as { port: number }).port}`;
  const server = await startLatchServer({ args: ['--inbox-relay', tarpitUrl] });
  after(() => server.stop());
  const sodium = await sodiumReady();
  const ada = await sdkLogin(server, 'dee@example.com');
  const { address } = await ada.client.createAccount({ deviceName: 'phone', inbox: newCustodyInbox(sodium, tarpitUrl).wire, device: ada.signer });
  const laptop = await sdkLogin(server, 'dee@example.com');
  // The join notice goes to the tarpit; the join request is answered anyway.
  const joinP = laptop.client.join(address, 'laptop');
  const socket = await firstConnection;
  let socketClosed = false;
  const closed = new Promise<void>((r) => socket.once('close', () => ((socketClosed = true), r())));
  const j = await joinP;
  assert.match(j.join_id, /^[A-Za-z0-9_-]{22}$/);
  // Answered while the tarpit still held the server's connection: the request never waited on it.
  assert.equal(socketClosed, false);
  // And the server gives up on the connection by itself.
  await closed;
  assert.ok(socketClosed);
});

test('`latch device run` registers its inbox again on start (a lost or replaced inbox is put right)', async () => {
  const server = await startLatchServer({ args: ['--recovery-delay', '0'] });
  after(() => server.stop());
  const phone = await cliLogin(server, 'phone', 'eve@example.com');
  const { address } = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: phone }));
  // The server lost the phone's inbox (a restored backup, or a takeover before this fix).
  const db = await custodyStoreOf(server.dataDir);
  await db.run('DELETE FROM inboxes');
  await db.close();
  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  after(() => run.kill());
  await run.waitFor(/custody: listening/);
  const tablet = await cliLogin(server, 'tablet', 'eve@example.com');
  const joined = json<{ key_index: number }>(await latchRun(['account', 'join', address, '--json'], { home: tablet }));
  assert.equal(joined.key_index, 2);
});
