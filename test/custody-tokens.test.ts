/**
 * Tokens and login codes (issue 15 §3) against a real `latch server`: a revoked device loses its
 * sessions at once and gets no new ones, refresh tokens are single-use with reuse detection,
 * `exp` is required, login codes cannot be guessed by restarting, and rate limits hold per IP
 * and per email.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SignJWT, decodeJwt } from 'jose';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { custodyCall, outboxCode, sdkLogin } from './helpers/custody-env.js';
import { CustodyClient, type RefreshTokenStore } from '../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../src/authenticator/custody-device-key.js';
import { LocalMasterKey } from '../src/custody/master-key.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { isLatchError } from '../src/util/latch-error.js';
import { custodyStoreOf } from './helpers/custody-pg.js';

const code = (c: string) => (e: unknown) => isLatchError(e) && e.code === c;

async function loginWith(server: LatchServer, email: string, signer: CustodySigner): Promise<CustodyClient> {
  const client = new CustodyClient({ server: server.url });
  const { challenge } = await client.loginStart(email);
  await client.loginComplete(email, outboxCode(server.dataDir, email), challenge, signer);
  return client;
}

test('a revoked device loses its tokens at once and cannot mint new ones through GET /joins/ID', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const phone = await sdkLogin(server, 'ada@example.com');
  const { address } = await phone.client.createAccount({ deviceName: 'phone' });
  const tabletSigner = deviceSigner(newDeviceKey());
  const tablet = await loginWith(server, 'ada@example.com', tabletSigner);
  const { join_id } = await tablet.join(address, 'tablet');
  const { key_index } = await phone.client.approveJoin({ joinId: join_id, address, newDevicePublicKey: tabletSigner.publicKey, device: { keyIndex: 0, signer: phone.signer } });
  const st = await tablet.joinStatus(join_id);
  assert.equal(st.status, 'approved');
  const access = st.access_token!;
  const refresh = st.refresh_token!;
  assert.equal((await custodyCall(server, 'GET', `/accounts/${address}`, { token: access })).status, 200);

  await phone.client.revoke({ address, keyIndex: key_index, device: { keyIndex: 0, signer: phone.signer } });
  // Its access token is dead now, not in 10 minutes; so is its refresh token.
  const after1 = await custodyCall(server, 'GET', `/accounts/${address}`, { token: access });
  assert.equal(after1.status, 401);
  assert.equal(after1.body.error?.code, 'unauthorized');
  assert.equal((await custodyCall(server, 'POST', '/token/refresh', { body: { refresh_token: refresh } })).status, 401);
  // Logged in again with the revoked key (it still knows the email): the approved join mints nothing.
  const again = await loginWith(server, 'ada@example.com', tabletSigner);
  await assert.rejects(again.joinStatus(join_id), code('revoked_key'));
  const token = (await again.refresh()).access_token;
  const raw = await custodyCall(server, 'GET', `/joins/${join_id}`, { token });
  assert.equal(raw.status, 403);
  assert.equal(raw.body.access_token, undefined);
});

test('refresh tokens are single-use; a reuse revokes the whole family; a lost answer may be asked for again once', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const { client } = await sdkLogin(server, 'bo@example.com');
  const refresh = async (t: string) => custodyCall(server, 'POST', '/token/refresh', { body: { refresh_token: t } });
  const r1 = client.refreshToken!;
  const p2 = await refresh(r1);
  assert.equal(p2.status, 200);
  const r2 = p2.body.refresh_token as string;
  assert.notEqual(r2, r1);
  // r1 again at once, r2 never seen by the server: the answer was lost (a reload mid-refresh).
  const p2b = await refresh(r1);
  assert.equal(p2b.status, 200);
  const r2b = p2b.body.refresh_token as string;
  const p3 = await refresh(r2b);
  assert.equal(p3.status, 200);
  // r1 again now that its successor is in use: someone copied it. Refused, and the family dies.
  const reuse = await refresh(r1);
  assert.equal(reuse.status, 401);
  assert.equal(reuse.body.error?.code, 'unauthorized');
  assert.equal((await refresh(p3.body.refresh_token as string)).status, 401);
  const create = await custodyCall(server, 'POST', '/accounts', { token: p3.body.access_token as string, body: { device_name: 'x' } });
  assert.equal(create.status, 401);
  assert.equal((await refresh(r2)).status, 401, 'the lost successor is no good either');
});

test('two clients sharing a token store: the store ends with the newest refresh token, never one written back after the lock', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const { client } = await sdkLogin(server, 'cy@example.com');
  // The web app's arrangement (src/web/web-custody.ts): a store with a lock, and onTokens
  // writing every new pair to the same place. Here onTokens is slow, so the second client's
  // whole rotation fits between the first one's lock and its onTokens.
  let stored = client.refreshToken!;
  let lock: Promise<unknown> = Promise.resolve();
  const tokenStore: RefreshTokenStore = {
    rotate: (exchange) => {
      const run = lock.then(async () => {
        const t = await exchange(stored);
        stored = t.refresh_token;
        return t;
      });
      lock = run.catch(() => undefined);
      return run;
    },
  };
  let releaseA!: () => void;
  const aWaits = new Promise<void>((r) => (releaseA = r));
  const a = new CustodyClient({ server: server.url, tokenStore, onTokens: async (t) => {
    await aWaits;
    stored = t.refresh_token;
  } });
  const b = new CustodyClient({ server: server.url, tokenStore, onTokens: (t) => void (stored = t.refresh_token) });
  const aDone = a.refresh(); // first in the lock; its onTokens, if called, waits for releaseA
  const tb = await b.refresh();
  releaseA();
  await aDone;
  assert.equal(stored, tb.refresh_token, 'the newest token is the one stored');
});

test('an access token without exp is refused, even with the right key', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const { client } = await sdkLogin(server, 'cy@example.com');
  const good = (await client.refresh()).access_token;
  const claims = decodeJwt(good);
  // The server's own JWT key, read the way the server reads it.
  const db = await custodyStoreOf(server.dataDir, { readonly: true });
  const wrapped = (await db.get<{ v: string }>("SELECT v FROM meta WHERE k = 'jwt_secret'"))!.v;
  await db.close();
  const secret = await LocalMasterKey.open(await sodiumReady(), server.dataDir).unwrap(wrapped, 'jwt-secret');
  const sign = (withExp: boolean) => {
    const j = new SignJWT({ dev: claims.dev, fam: claims.fam }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer('latch-custody').setAudience('latch-custody').setSubject(claims.sub!).setIssuedAt();
    return (withExp ? j.setExpirationTime('5m') : j).sign(secret);
  };
  const body = { device_name: 'phone' };
  const noExp = await custodyCall(server, 'POST', '/accounts', { token: await sign(false), body });
  assert.equal(noExp.status, 401);
  // The same token with exp is accepted: the refusal was about exp alone.
  const withExp = await custodyCall(server, 'POST', '/accounts', { token: await sign(true), body });
  assert.equal(withExp.status, 200, JSON.stringify(withExp.body));
});

test('login codes: a new start neither resets the tries nor voids a pending code; lockout after 5 wrong', async () => {
  const server = await startLatchServer();
  after(() => server.stop());
  const email = 'dee@example.com';
  const owner = new CustodyClient({ server: server.url });
  const ownerSigner = deviceSigner(newDeviceKey());
  const { challenge } = await owner.loginStart(email);
  const ownerCode = outboxCode(server.dataDir, email);
  // Someone else asks for a code for the same email: the owner's code still works.
  await custodyCall(server, 'POST', '/login/start', { body: { email } });
  await owner.loginComplete(email, ownerCode, challenge, ownerSigner);

  // Guessing: 4 wrong, a fresh start, a 5th wrong: locked (the count survived the start).
  const wrong = (c: string) => custodyCall(server, 'POST', '/login/complete', { body: { email, code: c, device_public_key: ownerSigner.publicKey, signature: '00'.repeat(64) } });
  const { challenge: ch2 } = await owner.loginStart(email);
  const right = outboxCode(server.dataDir, email);
  const guesses = ['000000', '111111', '222222', '333333', '444444', '555555', '666666'].filter((g) => g !== right);
  for (const g of guesses.slice(0, 4)) assert.equal((await wrong(g)).body.error?.code, 'bad_code');
  await custodyCall(server, 'POST', '/login/start', { body: { email } });
  assert.equal((await wrong(guesses[4]!)).body.error?.code, 'bad_code');
  const sixth = await wrong(guesses[5]!);
  assert.equal(sixth.status, 429);
  assert.equal(sixth.body.error?.code, 'login_locked');
  // While locked even the right code is refused.
  await assert.rejects(owner.loginComplete(email, right, ch2, ownerSigner), code('login_locked'));
});

test('rate limits: login routes per client IP (behind a trusted proxy) and codes per email', async () => {
  const server = await startLatchServer({ args: ['--trusted-proxy', '127.0.0.1'] });
  after(() => server.stop());
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  let limited: { status: number; body: { error?: { code: string } } } | undefined;
  for (let i = 0; i < 200 && !limited; i++) {
    const r = await custodyCall(server, 'POST', '/login/start', { body: { email: `u${i}@example.com` }, headers: from('203.0.113.5') });
    if (r.status !== 200) limited = r;
  }
  assert.equal(limited?.status, 429);
  assert.equal(limited?.body.error?.code, 'rate_limited');
  // Another client is not affected.
  assert.equal((await custodyCall(server, 'POST', '/login/start', { body: { email: 'other@example.com' }, headers: from('203.0.113.6') })).status, 200);
  // One email from many addresses: limited too.
  let perEmail: { status: number } | undefined;
  for (let i = 0; i < 50 && !perEmail; i++) {
    const r = await custodyCall(server, 'POST', '/login/start', { body: { email: 'target@example.com' }, headers: from(`198.51.100.${i + 1}`) });
    if (r.status !== 200) perEmail = r;
  }
  assert.equal(perEmail?.status, 429);
});
