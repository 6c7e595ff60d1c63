/**
 * Issue 5 foundation: the web authenticator in real Chromium against a real `latch server`
 * and `latch pair`. Skips where /usr/bin/chromium is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { parseAuthorizedKeyLine } from '../src/protocol/ssh/ssh-public-key.js';
import { latch, latchRun, tempDir, sharedLatchServer } from './helpers/latch-process.js';
import { CHROMIUM_SKIP, REPO_ROOT, artifactPath, chromium, pairPageByLink } from './helpers/web-browser.js';

const skip = CHROMIUM_SKIP;
const server = sharedLatchServer;

function rawGet(url: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    r.on('error', reject);
    r.end();
  });
}

async function openApp(url: string, viewport = { width: 390, height: 844 }, opts: { bypassCSP?: boolean } = {}): Promise<Page> {
  const ctx = await (await chromium()).newContext({ viewport, ...opts });
  const page = await ctx.newPage();
  await page.goto(`${url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

test('latch server serves the built app at /app/ with content types, and refuses traversal', async () => {
  const s = await server();
  const cases: [string, number, RegExp][] = [
    ['/app/', 200, /^text\/html/],
    ['/app/app.js', 200, /^text\/javascript/],
    ['/app/sw.js', 200, /^text\/javascript/],
    ['/app/app.css', 200, /^text\/css/],
    ['/app/manifest.webmanifest', 200, /^application\/manifest\+json/],
    ['/app/icon.svg', 200, /^image\/svg\+xml/],
    ['/app/zxing_reader.wasm', 200, /^application\/wasm$/], // the QR decoder, served by us (WebAssembly.instantiateStreaming needs this type)
    ['/app/../package.json', 404, /^text\/plain/],
    ['/app/%2e%2e/%2e%2e/package.json', 404, /^text\/plain/],
    ['/app/..%2f..%2fpackage.json', 404, /^text\/plain/],
    ['/app/nope.html', 404, /^text\/plain/],
    ['/app/.hidden', 404, /^text\/plain/],
  ];
  for (const [path, status, type] of cases) {
    const r = await rawGet(s.url, path);
    assert.equal(r.status, status, path);
    assert.match(r.type, type, path);
    if (status === 404) assert.doesNotMatch(r.body, /"name": "latch"/, path);
  }
  assert.equal((await rawGet(s.url, '/app')).status, 308);
  assert.equal((await rawGet(s.url, '/app/', 'POST')).status, 405);
  const manifest = JSON.parse((await rawGet(s.url, '/app/manifest.webmanifest')).body);
  assert.equal(manifest.display, 'standalone');
});

test('pair by pasted link in Chromium: same check code, status reaches the page, keys non-extractable, reload keeps the pairing', { skip }, async () => {
  const s = await server();
  const computer = tempDir('web-computer');
  const pair = latch(['pair', '--server', s.url, '--uri-only', '--timeout', '60', '--name', 'laptop'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');

  const page = await openApp(s.url);
  await page.screenshot({ path: artifactPath('web-start-390x844.png'), fullPage: true });
  await pairPageByLink(page, link);
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const pageCode = /Check code: (\d{3}-\d{3})/.exec((await page.locator('#check-code').textContent()) ?? '')?.[1];
  const computerCode = /Check code: (\d{3}-\d{3})/.exec(pair.stderr())?.[1];
  assert.ok(pageCode, 'the page shows a check code');
  assert.equal(pageCode, computerCode);
  // The inbox line says "Listening" as soon as the relay's WebSocket is subscribed.
  await page.getByText('Listening for requests.').waitFor({ timeout: 10_000 });
  await page.screenshot({ path: artifactPath('web-paired-390x844.png'), fullPage: true });

  const pageKey = (await page.getByLabel('SSH public key').textContent())!.trim();
  assert.match(pageKey, /^(ssh-ed25519|ecdsa-sha2-nistp256) AAAA[A-Za-z0-9+/=]+ ssh$/);
  const status = async () => {
    const st = await latchRun(['status', '--json'], { home: computer });
    assert.equal(st.code, 0, st.stderr);
    return JSON.parse(st.stdout);
  };
  let st = await status();
  assert.equal(st.paired, true);
  assert.equal(st.device.name, 'Ada web');
  assert.equal(st.device.reachable, true, 'the open page answers `me`');
  assert.equal(st.device.ssh_public_key, pageKey);

  // The long-term keys in IndexedDB are CryptoKeys that cannot be exported.
  const keys = await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('latch-web');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const device = await new Promise<any>((res, rej) => {
      const r = db.transaction('kv').objectStore('kv').get('device');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const k = device.sshKeys[0];
    let exported = 'no';
    try {
      await crypto.subtle.exportKey('pkcs8', k.privateKey);
      exported = 'yes';
    } catch (e) {
      exported = (e as Error).name;
    }
    return { isCryptoKey: k.privateKey instanceof CryptoKey, extractable: k.privateKey.extractable, type: k.privateKey.type, algorithm: k.privateKey.algorithm.name, exported };
  });
  assert.deepEqual({ ...keys, algorithm: undefined }, { isCryptoKey: true, extractable: false, type: 'private', algorithm: undefined, exported: 'InvalidAccessError' });
  assert.ok(keys.algorithm === 'Ed25519' || keys.algorithm === 'ECDSA', keys.algorithm);

  // A reload keeps the pairing and the page answers again.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByText('Paired with laptop').first().waitFor();
  st = await status();
  assert.equal(st.device.reachable, true, 'reachable again after reload');
  assert.equal(st.device.ssh_public_key, pageKey, 'same key after reload');

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: artifactPath('web-paired-1280x800.png'), fullPage: true });

  // Offline: the service worker keeps the shell available.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.evaluate(() => (location.hash = 'pair'));
  await page.context().setOffline(true);
  await page.reload();
  await page.getByLabel('Pairing link').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Pair', exact: true }).isVisible(), true);
  await page.context().setOffline(false);
  await page.context().close();
});

test('a bad link gets a clear error in the page, and Scan points to the paste field', { skip }, async () => {
  const s = await server();
  const page = await openApp(s.url);
  await page.getByLabel('Pairing link').fill('https://example.com/not-a-latch-link');
  await page.getByRole('button', { name: 'Pair', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', /not a Latch pairing link.*\[bad_pairing_link\]/);
  await page.getByLabel('Pairing link').fill('latch://pair?v=7&pk=hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo&q=OqyL3LsTvnWT-8be9IBzOg&n=x&r=http%3A%2F%2F127.0.0.1%3A9');
  await page.keyboard.press('Tab'); // keyboard: Tab to the device name, Enter submits the form
  await page.keyboard.press('Enter');
  await page.getByText(/protocol version 7.*\[unsupported_version\]/).waitFor();
  await page.screenshot({ path: artifactPath('web-bad-link-390x844.png'), fullPage: true });
  // This browser has no fake camera (test/web-camera.test.ts has those). Chromium looks for a
  // device before asking for permission: with no camera (as in CI) it is NotFoundError; on a
  // machine with a webcam, headless Chromium refuses permission (NotAllowedError).
  await page.getByLabel('Pairing link').fill('');
  await page.getByRole('button', { name: 'Scan' }).click();
  await page.getByText(/Paste the link into "Pairing link" instead\.$/).waitFor();
  const scanError = ((await alert.textContent()) ?? '').trim();
  assert.ok(
    [
      'No camera found [no_camera]. Paste the link into "Pairing link" instead.',
      'Camera permission denied [camera_denied]. Paste the link into "Pairing link" instead.',
    ].includes(scanError),
    scanError,
  );
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'pairing-link', 'the paste field has focus');
  assert.equal(await page.locator('#scanner').isHidden(), true, 'no camera preview is left open');
  await page.context().close();
});

test('the protocol vectors pass in the browser (same protocol module the app bundles); both SSH key kinds are valid and non-extractable', { skip }, async () => {
  const s = await server();
  const bundle = await build({
    entryPoints: [join(REPO_ROOT, 'test', 'helpers', 'web-vector-check.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'warning',
  });
  // The app's CSP allows no inline script; the test injects its checker, so it bypasses the CSP.
  const page = await openApp(s.url, undefined, { bypassCSP: true });
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text, type: 'module' });
  await page.waitForFunction(() => 'latchVectorCheck' in globalThis);
  const V = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'vectors', 'protocol-v1.json'), 'utf8'));
  const r = await page.evaluate((v) => (globalThis as any).latchVectorCheck(v), V);
  assert.deepEqual(r.failures, []);
  for (const group of ['queue_ids', 'check_codes', 'pairing_links', 'rejected_pairing_links', 'boxed_envelopes', 'sealed_envelopes', 'request_hashes', 'rejected_messages']) {
    assert.equal(r.checked[group], V[group].length, group);
  }
  // The SSH keys the app makes (Ed25519, and the P-256 fallback) give valid authorized_keys lines.
  const made = await page.evaluate(() => (globalThis as any).latchKeyCheck());
  assert.deepEqual(made.map((k: { algorithm: string }) => k.algorithm), ['Ed25519', 'ECDSA']);
  for (const k of made) {
    assert.equal(k.extractable, false);
    assert.equal(parseAuthorizedKeyLine(k.line).type, k.algorithm === 'Ed25519' ? 'ssh-ed25519' : 'ecdsa-sha2-nistp256');
  }
  await page.context().close();
});

test('a browser restart keeps the device, its key and the pairing (persistent profile)', { skip }, async () => {
  const s = await server();
  const computer = tempDir('web-restart-computer');
  const profile = tempDir('web-restart-profile');
  const { chromium: launcher } = await import('playwright-core');
  const launch = () =>
    launcher.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      viewport: { width: 390, height: 844 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  const pair = latch(['pair', '--server', s.url, '--uri-only', '--timeout', '60', '--name', 'desk'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  let ctx = await launch();
  let page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(`${s.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByLabel('Pairing link').fill(link!);
  await page.getByRole('button', { name: 'Pair', exact: true }).click();
  await page.getByRole('status').getByText('Paired with desk').waitFor();
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const key = (await page.getByLabel('SSH public key').textContent())!.trim();
  await ctx.close(); // the whole browser process ends

  ctx = await launch();
  page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(`${s.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByRole('status').getByText('Paired with desk').waitFor();
  assert.equal((await page.getByLabel('SSH public key').textContent())!.trim(), key, 'same SSH key after a restart');
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.equal(st.code, 0, st.stderr);
  const json = JSON.parse(st.stdout);
  assert.equal(json.device.reachable, true, 'the restarted browser answers `me`');
  assert.equal(json.device.ssh_public_key, key);

  // `latch unpair` from the computer: the page answers and forgets the pairing in the same write.
  const kept = readFileSync(join(computer, 'computer.json'));
  const un = await latchRun(['unpair', '--json'], { home: computer });
  assert.equal(un.code, 0, un.stderr);
  assert.deepEqual(JSON.parse(un.stdout), { unpaired: true, was_paired: true, device: 'Web authenticator', authenticator_answered: true });
  await page.evaluate(() => (location.hash = 'computers'));
  await page.getByText('No computer paired yet.').waitFor();
  // Someone with a copy of the old computer.json: the open page must not answer the forgotten pairing.
  writeFileSync(join(computer, 'computer.json'), kept);
  const stale = JSON.parse((await latchRun(['status', '--json'], { home: computer })).stdout);
  assert.equal(stale.device.reachable, false, 'a forgotten pairing gets no answer from the open page');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => (location.hash = 'computers'));
  await page.getByText('No computer paired yet.').waitFor();
  await ctx.close();
});
