/**
 * Production login path: a real `latch server --oidc-issuer` checks ID tokens against the
 * issuer's JWKS (served here by a small local issuer), then issues its own access tokens.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startLatchServer } from './helpers/latch-process.js';
import { CustodyClient } from '../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey } from '../src/authenticator/custody-device-key.js';
import { isLatchError } from '../src/util/latch-error.js';

test('ID tokens from a configured issuer log in; others are refused', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const idp = createServer((req, res) => {
    res.writeHead(req.url === '/.well-known/jwks.json' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  after(() => idp.close());
  const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const server = await startLatchServer({ args: ['--oidc-issuer', `${issuer}=latch-test`] });
  after(() => server.stop());

  const idToken = (claims: Record<string, unknown>, opts: { iss?: string; aud?: string; key?: CryptoKey } = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(opts.iss ?? issuer).setAudience(opts.aud ?? 'latch-test').setIssuedAt().setExpirationTime('5m').sign(opts.key ?? privateKey);

  const device = deviceSigner(newDeviceKey());
  const client = new CustodyClient({ server: server.url });
  const t = await client.loginWithIdToken(await idToken({ email: 'Ada@Example.com', email_verified: true }), device);
  assert.ok(t.access_token.length > 20);
  const { address } = await client.createAccount({ deviceName: 'oidc phone' });
  assert.equal((await client.getAccount(address)).keys[0]!.public_key, device.publicKey);

  const other = await generateKeyPair('ES256');
  const bad = [
    await idToken({ email: 'a@b.cd' }, { aud: 'someone-else' }),
    await idToken({ email: 'a@b.cd' }, { iss: 'http://127.0.0.1:1' }),
    await idToken({ email: 'a@b.cd' }, { key: other.privateKey as CryptoKey }),
    await idToken({ email: 'a@b.cd', email_verified: false }),
    'not.a.jwt',
  ];
  for (const tok of bad) {
    await assert.rejects(new CustodyClient({ server: server.url }).loginWithIdToken(tok, device), (e) => isLatchError(e) && e.status === 401, tok.slice(0, 20));
  }
});
