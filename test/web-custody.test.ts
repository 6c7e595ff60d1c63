/**
 * Issue 5, custody in the web authenticator: real Debian Chromium against a real `latch server`
 * (custody on, embedded ledger) and real `latch` CLI homes. The page signs in by email (code
 * from the dev issuer's outbox), creates an account, approves a 2FA join from a request card
 * and denies another; its custody key is a non-extractable WebCrypto P-256 key that refuses
 * anything but Flow transactions and login challenges. Skips where /usr/bin/chromium is absent.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { latch, startLatchServer, latchRun, tempDir, type LatchServer } from './helpers/latch-process.js';
import { cliLogin, json, outboxCode, RECOVERY_PASSPHRASE } from './helpers/custody-env.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { readRecoveryKit } from '../src/authenticator/custody-recovery-kit.js';
import { CHROMIUM_SKIP, REPO_ROOT, artifactPath, chromium, tapApprove } from './helpers/web-browser.js';
import { nodeEcdsa } from '../src/ledger/flow/flow-ecdsa-node.js';
import { verifyFlowSignature } from '../src/ledger/flow/flow-signer.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';

const skip = CHROMIUM_SKIP;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

let srv: LatchServer | undefined;
after(async () => {
  await srv?.stop().catch(() => undefined);
});

interface KeyView {
  index: string;
  role: string;
  device_name?: string;
  revoked: boolean;
  public_key: string;
}

async function showAccount(home: string, address: string): Promise<{ keys: KeyView[] }> {
  return json<{ keys: KeyView[] }>(await latchRun(['account', 'show', address, '--json'], { home }));
}

async function signInAndCreate(page: Page, server: LatchServer, email: string, name: string, recoveryPassphrase?: string): Promise<string> {
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByRole('status').getByText(`A one-time code was sent to ${email}.`).waitFor();
  await page.getByLabel('Code', { exact: true }).fill(outboxCode(server.dataDir, email));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('status').getByText(`Signed in as ${email}.`).waitFor();
  await page.getByLabel("This device's name").fill(name);
  if (recoveryPassphrase !== undefined) {
    await page.getByLabel('Recovery passphrase', { exact: true }).fill(recoveryPassphrase);
    await page.getByLabel('Repeat the recovery passphrase', { exact: true }).fill(recoveryPassphrase);
  }
  await page.getByRole('button', { name: 'Create account' }).click();
  const created = page.getByRole('status').getByText(/^Account 0x[0-9a-f]{16} created\.$/);
  await created.waitFor();
  return /0x[0-9a-f]{16}/.exec((await created.textContent()) ?? '')![0];
}

test('custody in the page: sign in, create an account, approve a 2FA join from its card, deny another', { skip }, async () => {
  srv = await startLatchServer();
  const server = srv;
  // bypassCSP only so the key check below can inject its bundle (the vectors test does the same).
  const ctx = await (await chromium()).newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (/custody/.test(m.text())) console.log(`page: ${m.text()}`);
  });
  await page.goto(`${server.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');

  const email = 'ada@example.com';
  const address = await signInAndCreate(page, server, email, 'Ada phone');
  const keyList = page.getByRole('list', { name: 'Keys and devices' });
  await keyList.getByText('Key 0 · device · Ada phone').waitFor();
  await keyList.getByText('Key 1 · server').waitFor();
  assert.match((await page.locator('#account').textContent()) ?? '', /No recovery key: if you lose this device and the server, the account is lost/);
  assert.match((await page.locator('#account').textContent()) ?? '', new RegExp(`${address}.*key 0`));
  await page.screenshot({ path: artifactPath('web-account-390x844.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: artifactPath('web-account-1280x800.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });

  // The Keys screen shows this device's custody public key: the account's key 0.
  await page.getByRole('link', { name: 'Keys' }).click();
  const pagePublicKey = ((await page.getByLabel('Custody public key').textContent()) ?? '').trim();
  assert.match(pagePublicKey, /^[0-9a-f]{128}$/);

  // A second device asks to join from the CLI; the page shows a card with its name and the time left.
  const laptop = await cliLogin(server, 'laptop', email);
  const joinLaptop = latch(['account', 'join', address, '--name', 'laptop', '--json'], { home: laptop });
  await page.getByRole('link', { name: 'Account' }).click();
  const card = page.getByRole('article').filter({ hasText: 'laptop' });
  await card.waitFor({ timeout: 30_000 });
  const cardText = (await card.textContent()) ?? '';
  assert.match(cardText, /Add device "laptop" to your account/);
  assert.match(cardText, /from 127\.0\.0\.1/);
  assert.match(cardText, /\d+ (s|min) left/);
  assert.match(cardText, new RegExp(address));
  assert.equal(await card.getByRole('button', { name: 'Approve' }).isVisible(), true);
  await page.screenshot({ path: artifactPath('web-card-join-390x844.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: artifactPath('web-card-join-1280x800.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await tapApprove(card.getByRole('button', { name: 'Approve' }));
  const joined = await joinLaptop.exited;
  assert.equal(joined.code, 0, joinLaptop.stderr());
  assert.deepEqual(JSON.parse(joinLaptop.stdout()), { address, key_index: 2, status: 'approved' });
  await card.waitFor({ state: 'detached' });

  // The CLI (and so the ledger) lists the new key; the page's key is key 0, as the page says.
  let keys = (await showAccount(laptop, address)).keys;
  assert.deepEqual(keys.map((k) => [k.index, k.role, k.device_name ?? null, k.revoked]), [
    ['0', 'device', 'Ada phone', false],
    ['1', 'server', null, false],
    ['2', 'device', 'laptop', false],
  ]);
  assert.equal(keys[0]!.public_key, pagePublicKey);
  // The laptop's key works: it can move funds with the server's co-signature.
  const bob = await cliLogin(server, 'bob', 'bob@example.com');
  const bobAddr = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: bob })).address;
  json(await latchRun(['account', 'transfer', '--to', bobAddr, '--amount', '1', '--json'], { home: laptop }));
  // The page's Account screen lists it too (it re-reads the account after the approval).
  await keyList.getByText('Key 2 · device · laptop').waitFor();

  // Another join, denied: the CLI says so and nothing changes.
  const tablet = await cliLogin(server, 'tablet', email);
  const joinTablet = latch(['account', 'join', address, '--name', 'tablet'], { home: tablet });
  const card2 = page.getByRole('article').filter({ hasText: 'tablet' });
  await card2.waitFor({ timeout: 30_000 });
  assert.match((await card2.textContent()) ?? '', /Add device "tablet" to your account/);
  await card2.getByRole('button', { name: 'Deny' }).click();
  const denied = await joinTablet.exited;
  assert.notEqual(denied.code, 0);
  assert.match(joinTablet.stderr(), /denied; nothing changed/);
  keys = (await showAccount(laptop, address)).keys;
  assert.equal(keys.length, 3);
  assert.ok(!keys.some((k) => k.device_name === 'tablet'));

  // Both outcomes are in the page's history.
  await page.getByRole('link', { name: 'History' }).click();
  const history = page.locator('#history');
  await history.getByText('Add device "tablet" to your account').waitFor();
  const rows = await history.locator('li').allTextContents();
  assert.ok(rows.some((r) => /Add device "laptop" to your account.*127\.0\.0\.1.*approved once/.test(r)), rows.join('\n'));
  assert.ok(rows.some((r) => /Add device "tablet" to your account.*denied/.test(r)), rows.join('\n'));

  // The device key: a non-extractable ECDSA P-256 CryptoKey that refuses anything but Flow
  // transactions and login challenges, and whose login signatures the server's verifier accepts.
  const bundle = await build({ entryPoints: [join(REPO_ROOT, 'test', 'helpers', 'web-custody-check.ts')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning' });
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text, type: 'module' });
  await page.waitForFunction(() => 'latchCustodyCheck' in globalThis);
  const k = await page.evaluate(() => (globalThis as any).latchCustodyCheck());
  assert.deepEqual(
    { isCryptoKey: k.isCryptoKey, type: k.type, extractable: k.extractable, algorithm: k.algorithm, namedCurve: k.namedCurve, usages: k.usages, exported: k.exported },
    { isCryptoKey: true, type: 'private', extractable: false, algorithm: 'ECDSA', namedCurve: 'P-256', usages: ['sign'], exported: { pkcs8: 'InvalidAccessError', jwk: 'InvalidAccessError', raw: 'InvalidAccessError' } },
  );
  assert.deepEqual(k.refusals, { random: 'refused_message', flowTagGarbage: 'refused_message', loginWrongLength: 'refused_message', sshsigLike: 'refused_message' });
  assert.equal(k.publicKey, pagePublicKey);
  for (const sig of k.sigs as string[]) {
    assert.equal(nodeEcdsa.verify(unhex(k.login), unhex(sig), k.publicKey, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), true, 'the server verifier accepts it');
    assert.equal(verifyFlowSignature(unhex(k.login), unhex(sig), k.publicKey, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), true);
    assert.ok(BigInt('0x' + sig.slice(64)) <= P256_N >> 1n, 'low-S');
  }
  // A wrong message does not verify (the check above can fail).
  assert.equal(nodeEcdsa.verify(unhex(k.login).map((b, i) => (i === 40 ? b ^ 1 : b)), unhex(k.sigs[0]), k.publicKey, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256), false);

  // A recovery kit made later, in the page: the same file the CLI writes, and its key is now key 3.
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByLabel('Recovery passphrase', { exact: true }).fill('short');
  await page.getByLabel('Repeat the recovery passphrase', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Make recovery kit' }).click();
  await page.getByRole('alert').getByText(/at least 8 characters \[passphrase_too_short\]/).waitFor();
  await page.getByLabel('Recovery passphrase', { exact: true }).fill(RECOVERY_PASSPHRASE);
  await page.getByLabel('Repeat the recovery passphrase', { exact: true }).fill(RECOVERY_PASSPHRASE);
  const kitDownload = page.waitForEvent('download', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Make recovery kit' }).click();
  const dl = await kitDownload;
  assert.equal(dl.suggestedFilename(), `latch-recovery-${address}.json`);
  const kitPath = join(tempDir('kit'), dl.suggestedFilename());
  await dl.saveAs(kitPath);
  await page.getByRole('status').getByText('Recovery key added to the account.').waitFor();
  const kit = readRecoveryKit(await sodiumReady(), kitPath, RECOVERY_PASSPHRASE);
  assert.equal(kit.address, address);
  keys = (await showAccount(laptop, address)).keys;
  assert.deepEqual([keys[3]!.index, keys[3]!.role, keys[3]!.public_key], ['3', 'recovery', kit.publicKey]);
  assert.doesNotMatch(readFileSync(kitPath, 'utf8'), /"secret"|"private/);
  await page.getByText(`Recovery kit downloaded as latch-recovery-${address}.json.`).waitFor();

  // After self-custody (the server key revoked), the laptop's transfer needs a second device:
  // the page shows what the transaction does, decoded from the transaction, and signs it.
  json(await latchRun(['account', 'self-custody', '--json'], { home: laptop }));
  // Every device is told when a key is revoked (docs/CUSTODY.md "Revoking a key"): the page says so.
  await page.locator('#error').getByText(new RegExp(`SERVER KEY REVOKED on account ${address} \\(key 1 \\(SHA256:[A-Za-z0-9+/]+\\)\\) by "laptop" at .*the account left custody`)).waitFor({ timeout: 30_000 });
  const transfer = latch(['account', 'transfer', '--to', bobAddr, '--amount', '2', '--json'], { home: laptop });
  const signCard = page.getByRole('article').filter({ hasText: 'transfer 2.00000000 FLOW' });
  await signCard.waitFor({ timeout: 30_000 });
  assert.match((await signCard.textContent()) ?? '', new RegExp(`Sign for your account: transfer 2\\.00000000 FLOW to ${bobAddr}.*from device "laptop"`));
  await page.screenshot({ path: artifactPath('web-card-custody-sign-390x844.png'), fullPage: true });
  await tapApprove(signCard.getByRole('button', { name: 'Approve' }));
  const sent = await transfer.exited;
  assert.equal(sent.code, 0, transfer.stderr());
  assert.deepEqual(JSON.parse(transfer.stdout()).transaction.envelope_signatures.map((x: { key_index: string }) => x.key_index).sort(), ['0', '2']);
  const refused = latch(['account', 'transfer', '--to', bobAddr, '--amount', '5'], { home: laptop });
  const signCard2 = page.getByRole('article').filter({ hasText: 'transfer 5.00000000 FLOW' });
  await signCard2.waitFor({ timeout: 30_000 });
  await signCard2.getByRole('button', { name: 'Deny' }).click();
  assert.notEqual((await refused.exited).code, 0);
  assert.equal(json<{ balance: string }>(await latchRun(['account', 'show', bobAddr, '--json'], { home: bob })).balance, '1003.00000000');

  await page.getByRole('button', { name: 'Refresh account' }).click();
  await keyList.getByText(/Key 1 · server.*revoked/).waitFor();
  assert.match((await page.locator('#account').textContent()) ?? '', /self-custody: the server key is revoked/);

  // A reload keeps the account and the key.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByRole('link', { name: 'Account' }).click();
  await keyList.getByText('Key 2 · device · laptop').waitFor();
  await page.getByRole('link', { name: 'History' }).click();
  await page.locator('#history').getByText(`The server's key of account ${address} was revoked by "laptop"`).waitFor();
  await ctx.close();
});

test('a recovery kit made with the account in the page opens with the CLI; a recovery started with it shows a warning the page can cancel', { skip }, async () => {
  srv ??= await startLatchServer();
  const server = srv; // default recovery delay (48 h): the recovery stays pending
  const ctx = await (await chromium()).newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await page.goto(`${server.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  const email = 'kay@example.com';
  // A code asked for the wrong address can be dropped: the page goes back to the email field.
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByLabel('Email', { exact: true }).fill('typo@example.com');
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByRole('button', { name: 'Use another email' }).click();
  await page.getByLabel('Email', { exact: true }).waitFor();
  const kitDownload = page.waitForEvent('download', { timeout: 60_000 });
  const address = await signInAndCreate(page, server, email, 'Kay phone', RECOVERY_PASSPHRASE);
  const dl = await kitDownload;
  const kitPath = join(tempDir('kit'), dl.suggestedFilename());
  await dl.saveAs(kitPath);
  assert.equal(dl.suggestedFilename(), `latch-recovery-${address}.json`);
  const keyList = page.getByRole('list', { name: 'Keys and devices' });
  await keyList.getByText('Key 2 · recovery').waitFor();
  await page.getByText(/Recovery kit downloaded as .*synced cloud folder/).waitFor();

  // Someone with the kit and its passphrase starts a recovery from the CLI.
  const other = await cliLogin(server, 'new phone', email);
  const env = { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE };
  const started = json<{ status: string; recovery_id: string }>(await latchRun(['account', 'recover', '--recovery-file', kitPath, '--json'], { home: other, env }));
  assert.equal(started.status, 'pending');
  await page.locator('#error').getByText(/Recovery of account .* started by a new device "new phone".*cancel it on the Account screen/).waitFor({ timeout: 30_000 });
  const warning = page.locator('#account').getByRole('alert').filter({ hasText: 'new phone' });
  await warning.waitFor({ timeout: 30_000 });
  assert.match((await warning.textContent()) ?? '', new RegExp(`Recovery of ${address} started by a new device "new phone".*latch account recover --cancel ${started.recovery_id}`));
  await page.screenshot({ path: artifactPath('web-account-recovery-390x844.png'), fullPage: true });
  await warning.getByRole('button', { name: 'Cancel recovery' }).click();
  await page.getByRole('status').getByText(`Recovery ${started.recovery_id} cancelled.`).waitFor();
  await warning.waitFor({ state: 'detached' });
  const retry = await latchRun(['account', 'recover', '--recovery-file', kitPath, '--json'], { home: other, env });
  assert.notEqual(retry.code, 0);
  assert.match(retry.stderr, /cancel/);
  await page.getByRole('link', { name: 'History' }).click();
  await page.locator('#history').getByText(`Recovery of account ${address} started by a new device "new phone"`).waitFor();
  await ctx.close();
});

test('account linking in the page: the account screen lists links, the link card says what the parent gets, unlink', { skip }, async () => {
  // A device + server link needs a second device that is told, and waits the recovery delay
  // (docs/CUSTODY.md "Account linking"): its own server with the delay 0, and a CLI laptop joined.
  const server = await startLatchServer({ args: ['--recovery-delay', '0'] });
  after(() => server.stop());
  const ctx = await (await chromium()).newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await page.goto(`${server.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  const address = await signInAndCreate(page, server, 'lin@example.com', 'Lin phone');
  const laptop = await cliLogin(server, 'laptop', 'lin@example.com');
  const joinLaptop = latch(['account', 'join', address, '--name', 'laptop', '--json'], { home: laptop });
  const joinCard = page.getByRole('article').filter({ hasText: 'laptop' });
  await joinCard.waitFor({ timeout: 30_000 });
  await tapApprove(joinCard.getByRole('button', { name: 'Approve' }));
  assert.equal((await joinLaptop.exited).code, 0, joinLaptop.stderr());
  // A self-custody parent wallet made with the CLI; its key file signs the parent's side.
  const wallet = await cliLogin(server, 'wallet', 'wallet@example.com');
  const keyFile = join(tempDir('parent-key'), 'parent.json');
  const parent = json<{ address: string }>(await latchRun(['account', 'create', '--self-custody', '--key-file', keyFile, '--json'], { home: wallet })).address;
  const links = page.locator('#account-links');
  await links.getByText('No parent accounts.').waitFor();
  await page.getByLabel('Link this account to a parent wallet you own').fill(parent);
  await page.getByRole('button', { name: 'Review link' }).click();
  const card = page.locator('#link-card').getByRole('alert');
  await card.getByText(`${parent} will be able to move everything in this account`, { exact: true }).waitFor();
  await page.screenshot({ path: artifactPath('web-account-link-card-390x844.png'), fullPage: true });
  await card.getByRole('button', { name: 'Link' }).click();
  await page.getByRole('status').getByText(`Linked to ${parent}.`, { exact: false }).waitFor();
  const parents = page.getByRole('list', { name: 'Parent accounts' });
  await parents.getByText('published, not yet redeemed').waitFor();
  // The parent redeems by its own key; the page shows what the parent can now do.
  json(await latchRun(['account', 'redeem', address, '--parent-key', keyFile, '--json'], { home: wallet }));
  await page.getByRole('button', { name: 'Refresh account' }).click();
  await parents.getByText('parent: can move everything in this account').waitFor();
  await parents.getByRole('button', { name: 'Unlink' }).click();
  await page.getByRole('status').getByText(`Unlinked ${parent}`, { exact: false }).waitFor();
  await links.getByText('No parent accounts.').waitFor();
  const refused = await latchRun(['account', 'transfer', '--from-child', address, '--to', parent, '--amount', '1', '--parent-key', keyFile], { home: wallet });
  assert.match(refused.stderr, /\[not_a_parent\]/);
  await ctx.close();
});
