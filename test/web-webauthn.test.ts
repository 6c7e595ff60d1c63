/**
 * Passkeys held by the web authenticator (issue 11): one Debian Chromium, with the built
 * extension (dist/extension) in its persistent context, where a relying party's page on
 * http://localhost calls navigator.credentials; and a second context of the same browser with
 * the web authenticator (`latch server`'s /app/), paired by pasted link with the computer home
 * whose `latch browser host` the extension starts. Every answer is a click on the app's request
 * card; an independent relying party (@simplewebauthn/server) verifies each one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { sodiumReady } from '../src/protocol/sodium.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { AuthenticatorClient } from '../src/computer/authenticator-client.js';
import { loadComputerState, requirePairing } from '../src/computer/computer-state.js';
import { getAssertion } from '../src/browser/webauthn-client.js';
import { isLatchError } from '../src/util/latch-error.js';
import { latchRun, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { CHROMIUM, CHROMIUM_SKIP, REPO_ROOT, artifactPath, tapApprove, virtualAuthenticator } from './helpers/web-browser.js';
import { pairPage } from './helpers/web-paired-page.js';
import { relyingParty, type RelyingParty } from './helpers/webauthn-rp.js';

const skip = CHROMIUM_SKIP;
const EXTENSION = join(REPO_ROOT, 'dist', 'extension');
const LATCH_AAGUID = 'f6b0b65c12764748992966021a38926a';

let srv: LatchServer | undefined;
let rpServer: http.Server | undefined;
let browser: BrowserContext | undefined;
let appContext: BrowserContext | undefined;
let app: Page;
let site: Page;
let rp: RelyingParty;
let computer: string;

type Outcome = { json?: { id: string; response: Record<string, string> } & Record<string, unknown>; ext?: unknown; error?: string; message?: string };

/** navigator.credentials.create/get on the site's page with the RP's JSON options. */
function ceremony(op: 'create' | 'get', options: unknown): Promise<Outcome> {
  return site.evaluate(
    async ([op, options]) => {
      try {
        const P = PublicKeyCredential as unknown as { parseCreationOptionsFromJSON(j: unknown): PublicKeyCredentialCreationOptions; parseRequestOptionsFromJSON(j: unknown): PublicKeyCredentialRequestOptions };
        const c = (op === 'create'
          ? await navigator.credentials.create({ publicKey: P.parseCreationOptionsFromJSON(options) })
          : await navigator.credentials.get({ publicKey: P.parseRequestOptionsFromJSON(options) })) as PublicKeyCredential & { toJSON(): Outcome['json'] };
        return { json: c.toJSON(), ext: c.getClientExtensionResults() };
      } catch (e) {
        return { error: (e as Error).name, message: (e as Error).message };
      }
    },
    [op, options] as const,
  );
}

/**
 * The app's card for the pending ceremony, with its headline and details. Fails at once when the
 * page got its answer without a card (as it did when the web app answered `unsupported_request`).
 */
async function cardFor(pending: Promise<Outcome>): Promise<{ card: Locator; title: string; details: string }> {
  const card = app.locator('#cards article.request.webauthn').first();
  const first = await Promise.race([card.waitFor().then(() => 'card', () => 'none'), pending.then(() => 'answer')]);
  if (first !== 'card') {
    const o = await pending;
    assert.fail(`the page was answered without a card: ${o.error}: ${o.message}`);
  }
  return { card, title: (await card.getByRole('heading').textContent())!, details: (await card.locator('.details').innerText()).trim() };
}

async function approve(card: Locator): Promise<void> {
  await tapApprove(card.getByRole('button', { name: 'Approve' }));
}

function listen(handler: http.RequestListener): Promise<[http.Server, number]> {
  const s = http.createServer(handler);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve([s, (s.address() as { port: number }).port])));
}

before(async () => {
  if (skip) return;
  srv = await startLatchServer();
  let port: number;
  [rpServer, port] = await listen((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end('<!doctype html><meta charset="utf-8"><title>relying party</title><p>relying party</p>');
  });
  const origin = `http://localhost:${port}`;
  rp = relyingParty('localhost', origin);
  // Extensions load only in a persistent context; the app gets a second, ordinary context of the
  // same browser (its own storage, no extension). The app's CSP allows no inline script; this
  // context bypasses it for the injected cross-protocol checker.
  const udd = tempDir('chromium');
  const { chromium } = await import('playwright-core');
  browser = await chromium.launchPersistentContext(udd, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', `--disable-extensions-except=${EXTENSION}`, `--load-extension=${EXTENSION}`],
  });
  appContext = await browser.browser()!.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
  app = await appContext.newPage();
  await app.goto(`${srv.url}/app/`);
  await app.waitForSelector('body[data-ready="true"]');
  computer = await pairPage(app, srv.url, 'laptop');
  await app.getByText('Listening for requests.').waitFor();
  // The host manifest is read when the extension connects, so it may be written now.
  const r = await latchRun(['browser', 'install', '--user-data-dir', udd, '--yes'], { home: computer });
  assert.equal(r.code, 0, r.stderr);
  site = await browser.newPage();
  await site.goto(`${origin}/`);
});

after(async () => {
  await appContext?.close();
  await browser?.close();
  rpServer?.close();
  await srv?.stop();
});

test('the web app approves an ES256 discoverable registration and logins with and without allowCredentials, verified by the RP', { skip }, async () => {
  const reg = ceremony('create', { ...(await rp.registrationOptions()), extensions: { credProps: true } });
  const c = await cardFor(reg);
  // What `latch device run` shows, word for word (webauthn-core.ts is the same code).
  assert.equal(c.title, "Create a passkey for localhost ('Example', as the site names itself) for ada?");
  assert.match(c.details, /^from Chromium on laptop$/m);
  await app.screenshot({ path: artifactPath('web-card-webauthn-390x844.png') });
  await approve(c.card);
  const made = await reg;
  assert.equal(made.error, undefined, made.message);
  assert.deepEqual(made.ext, { credProps: { rk: true } });
  assert.equal(made.json!.response.publicKeyAlgorithm, -7 as unknown as string);
  const cred = await rp.verifyRegistration(made.json);
  const authData = Buffer.from(made.json!.response.authenticatorData!, 'base64url');
  assert.equal(authData.subarray(37, 53).toString('hex'), LATCH_AAGUID);
  assert.equal(authData[32]! & (0x04 | 0x08 | 0x10), 0, 'UV, BE and BS are 0');
  assert.equal(Buffer.from(cred.id, 'base64url').length, 32);

  for (const [allow, counter] of [[true, 1], [false, 2]] as const) {
    const login = ceremony('get', await rp.authenticationOptions({ allow }));
    const card = await cardFor(login);
    assert.equal(card.title, 'Sign in to localhost as ada, from Chromium on laptop?');
    await approve(card.card);
    const got = await login;
    assert.equal(got.error, undefined, got.message);
    assert.equal(got.json!.id, cred.id);
    // The sign counter went up with each approved login; the RP checks the DER ECDSA signature.
    assert.equal((await rp.verifyAuthentication(got.json)).newCounter, counter);
  }
});

test('an excludeCredentials match is InvalidStateError after the card; a deny is NotAllowedError and the page stays usable', { skip }, async () => {
  const again = ceremony('create', await rp.registrationOptions({ exclude: true }));
  const ex = await cardFor(again);
  assert.equal(ex.title, 'localhost asks to create a passkey for ada, but this authenticator already holds one for localhost (as ada).');
  await approve(ex.card);
  assert.equal((await again).error, 'InvalidStateError');

  const denied = ceremony('get', await rp.authenticationOptions({ allow: true }));
  await (await cardFor(denied)).card.getByRole('button', { name: 'Deny' }).click();
  const d = await denied;
  assert.equal(d.error, 'NotAllowedError', d.message);
  assert.equal(await site.evaluate(() => document.querySelector('p')?.textContent), 'relying party');
  const ok = ceremony('get', await rp.authenticationOptions({ allow: true }));
  await approve((await cardFor(ok)).card);
  assert.equal((await rp.verifyAuthentication((await ok).json)).newCounter, 3);
});

test('an EdDSA-only site gets an Ed25519 passkey from the web app (WebCrypto Ed25519), verified by the RP', { skip }, async () => {
  const eddsa = relyingParty('localhost', rp.origin);
  const reg = ceremony('create', await eddsa.registrationOptions({ algorithms: [-8], userName: 'grace' }));
  await approve((await cardFor(reg)).card);
  const made = await reg;
  assert.equal(made.error, undefined, made.message);
  assert.equal(made.json!.response.publicKeyAlgorithm, -8 as unknown as string);
  await eddsa.verifyRegistration(made.json);
  const login = ceremony('get', await eddsa.authenticationOptions({ allow: true }));
  const card = await cardFor(login);
  assert.equal(card.title, 'Sign in to localhost as grace, from Chromium on laptop?');
  await approve(card.card);
  assert.equal((await eddsa.verifyAuthentication((await login).json)).newCounter, 1);
});

test('a discoverable login finding two accounts: the card asks which, Approve alone does not pick one, and the chosen one signs in', { skip }, async () => {
  // ada (ES256, made first) and grace (Ed25519, used last) both belong to localhost.
  const login = ceremony('get', await rp.authenticationOptions());
  const { card, title } = await cardFor(login);
  assert.equal(title, 'Sign in to localhost, from Chromium on laptop: which account?');
  const choices = card.getByRole('radio');
  assert.deepEqual(await card.locator('fieldset.accounts label').allTextContents(), ['grace', 'ada']);
  assert.equal(await choices.count(), 2);
  // No account chosen: the tap does not count as an answer, the card stays open.
  await approve(card);
  assert.equal(await card.isVisible(), true);
  await card.getByRole('radio', { name: 'ada' }).check();
  await approve(card);
  const chosen = await login;
  assert.equal(chosen.error, undefined, chosen.message);
  const v = await rp.verifyAuthentication(chosen.json);
  assert.equal(v.newCounter, 4, 'ada\'s credential (grace\'s is not known to this RP, which would refuse it)');
});

test('a web passkey key is non-extractable and signs only its own site\'s assertions; the web SSH key refuses an assertion', { skip }, async () => {
  const bundle = await build({ entryPoints: [join(REPO_ROOT, 'test', 'helpers', 'web-passkey-sign-check.ts')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning' });
  await app.addScriptTag({ content: bundle.outputFiles[0]!.text, type: 'module' });
  await app.waitForFunction(() => 'latchPasskeySignCheck' in globalThis);
  const r = (await app.evaluate(() => (globalThis as unknown as { latchPasskeySignCheck(): Promise<unknown> }).latchPasskeySignCheck())) as Record<string, Record<string, string | boolean | number>>;
  for (const [alg, algorithm] of [['-7', 'ECDSA'], ['-8', 'Ed25519']] as const) {
    const x = r[alg]!;
    assert.equal(x.algorithm, algorithm);
    assert.equal(x.extractable, false);
    assert.equal(x.idBytes, 32);
    assert.equal(x.passkeySignsSsh, 'not_webauthn_data');
    assert.equal(x.passkeySignsOtherSite, 'not_webauthn_data');
    assert.equal(x.sshSignsAssertion, 'not_ssh_data');
    const [sig, data, pub] = [x.signature, x.data, x.publicKey].map((v) => new Uint8Array(Buffer.from(v as string, 'base64url')));
    const verified = alg === '-7' ? p256.verify(sig!, data!, pub!, { format: 'der', lowS: false }) : ed25519.verify(sig!, data!, pub!);
    assert.equal(verified, true, `${algorithm}: the assertion signature verifies`);
  }
});

test('a login the web app holds no passkey for is no_credential at once: no ack, no card', { skip }, async () => {
  // The computer's own WebAuthn client (what `latch browser host` runs), straight to the app.
  const pairing = requirePairing(loadComputerState(join(computer, 'computer.json')));
  const client = new AuthenticatorClient(await sodiumReady(), new RelayClient({ url: pairing.relayUrl }), pairing, () => undefined);
  try {
    let acked = false;
    const nobody = relyingParty('nobody.example', 'https://nobody.example');
    const code = await getAssertion(client, { origin: 'https://nobody.example', crossOrigin: false, browser: 'Chromium' }, await nobody.authenticationOptions(), { onAck: () => (acked = true) }).then(
      () => 'answered',
      (e: unknown) => (isLatchError(e) ? e.code : String(e)),
    );
    assert.equal(code, 'no_credential');
    assert.equal(acked, false);
    assert.equal(await app.locator('#cards article').count(), 0);
  } finally {
    client.close();
  }
});

test('History records the answers; the Keys screen lists the passkeys and deletes one', { skip }, async () => {
  await app.evaluate(() => (location.hash = 'history'));
  await app.locator('#history li', { hasText: 'Sign in to localhost as ada, from Chromium on laptop?' }).filter({ hasText: 'approved once' }).first().waitFor();
  await app.locator('#history li', { hasText: 'Sign in to localhost as ada, from Chromium on laptop?' }).filter({ hasText: 'denied' }).first().waitFor();
  await app.evaluate(() => (location.hash = 'keys'));
  const row = app.locator('#passkeys li', { hasText: 'localhost as ada' });
  await row.waitFor();
  assert.match((await row.textContent())!, /'Example', as the site names itself.*ES256.*used 4 times/);
  await app.screenshot({ path: artifactPath('web-screen-passkeys-390x844.png'), fullPage: true });
  const del = row.getByRole('button', { name: 'Delete the passkey for localhost as ada' });
  await del.click();
  await row.getByRole('button', { name: 'Really delete the passkey for localhost as ada?' }).click();
  await app.locator('#passkeys li', { hasText: 'localhost as ada' }).waitFor({ state: 'detached' });
  assert.deepEqual(await app.locator('#passkeys li strong').allTextContents(), ['localhost as grace']);
});

test('"Use another key" on the card: the page gets the browser\'s own authenticator with its original options', { skip }, async () => {
  const removeVirtual = await virtualAuthenticator(site);
  try {
    await app.evaluate(() => (location.hash = 'requests'));
    const other = relyingParty('localhost', rp.origin);
    const reg = ceremony('create', await other.registrationOptions({ userName: 'elsewhere' }));
    const { card } = await cardFor(reg);
    await card.getByRole('button', { name: 'Use another key' }).click();
    const made = await reg;
    assert.equal(made.error, undefined, made.message);
    const aaguid = Buffer.from(made.json!.response.authenticatorData!, 'base64url').subarray(37, 53).toString('hex');
    assert.notEqual(aaguid, LATCH_AAGUID, 'made by the browser\'s own (virtual) authenticator, not by the web app');
    await other.verifyRegistration(made.json);
    await app.evaluate(() => (location.hash = 'history'));
    await app.locator('#history li', { hasText: 'Create a passkey for localhost' }).filter({ hasText: 'left to another key' }).first().waitFor();
  } finally {
    await removeVirtual();
  }
});
