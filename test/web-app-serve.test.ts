/**
 * Issue 16 §1 and §6: the web app served apart from the relay (`latch app serve`, or any static
 * copy of dist/web), paired with a relay on another origin, and its offline shell replaced by a
 * new build. Real Chromium, real `latch app serve`, `latch server` and `latch pair` processes.
 * Skips where Chromium is absent.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { latch, latchRun, startLatchServer, tempDir, type LatchProcess } from './helpers/latch-process.js';
import { CHROMIUM_SKIP, REPO_ROOT, chromium } from './helpers/web-browser.js';
import { pairPage } from './helpers/web-paired-page.js';

const skip = CHROMIUM_SKIP;
const running: LatchProcess[] = [];
after(() => {
  for (const p of running) p.kill('SIGTERM');
});

/** `latch app serve` on a free port; resolves with its base URL (http://127.0.0.1:PORT). */
async function appServe(args: string[]): Promise<string> {
  const p = latch(['app', 'serve', '--listen', '127.0.0.1:0', ...args]);
  running.push(p);
  const [, url] = await p.waitFor(/serving the web authenticator at (http:\/\/127\.0\.0\.1:\d+)\/app\//, 'stdout', 15_000);
  return url!;
}

function copyOfBuild(): string {
  const dir = path.join(tempDir('web-copy'), 'web');
  fs.cpSync(path.join(REPO_ROOT, 'dist', 'web'), dir, { recursive: true });
  return dir;
}

/** The service worker's caches: name -> the URLs each holds. */
function cacheContents(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const out: Record<string, string[]> = {};
    for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => r.url).sort();
    return out;
  });
}

test('§6 the shipped sw.js carries the real shell hash; a new build replaces the old shell and its cache; /app/?query URLs are not cached', { skip }, async () => {
  const dir = copyOfBuild();
  const sw = fs.readFileSync(path.join(dir, 'sw.js'), 'utf8');
  const stamped = /const SHELL_VERSION = '([0-9a-f]{16})';/.exec(sw);
  assert.ok(stamped, 'dist/web/sw.js is stamped with a 16-hex-digit build hash');
  const v1 = stamped[1]!;
  const url = await appServe(['--dir', dir]);
  const ctx = await (await chromium()).newContext();
  const page = await ctx.newPage();
  await page.goto(`${url}/app/?from=a-link`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(async (v) => (await caches.keys()).includes(`latch-shell-${v}`), v1);
  await page.goto(`${url}/app/?other=1`);
  await page.waitForSelector('body[data-ready="true"]');
  const cached = await cacheContents(page);
  assert.deepEqual(Object.keys(cached), [`latch-shell-${v1}`]);
  assert.ok(cached[`latch-shell-${v1}`]!.every((u) => !u.includes('?')), `no query URL cached: ${cached[`latch-shell-${v1}`]}`);
  await page.getByText(`build ${v1}`).waitFor();

  // A new build: one shell file changes, so the hash and the cache name change (web/shell-stamp.mjs,
  // as web/build.mjs stamps it).
  fs.appendFileSync(path.join(dir, 'app.css'), '\n/* build two */\n');
  const { stampShell } = (await import(pathToFileURL(path.join(REPO_ROOT, 'web', 'shell-stamp.mjs')).href)) as { stampShell: (d: string, src: string) => string };
  const v2 = stampShell(dir, fs.readFileSync(path.join(REPO_ROOT, 'web', 'sw.js'), 'utf8'));
  assert.notEqual(v2, v1);
  await page.reload();
  // Activating the new build deletes the old shell's cache: only the new one is left.
  const onlyNew = (v: string) => page.waitForFunction(async (x) => (await caches.keys()).join() === `latch-shell-${x}`, v);
  await onlyNew(v2);
  // The page says its shell changed, with both builds.
  await page.getByRole('alert').filter({ hasText: `The app's code changed (build ${v1} → ${v2})` }).waitFor();
  // An old worker's fetch still finishing may not bring the old cache back.
  await page.waitForFunction(() => navigator.serviceWorker.getRegistration().then((r) => !r?.installing && !r?.waiting));
  await onlyNew(v2);

  // Offline, the new shell is what opens.
  await ctx.setOffline(true);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  const css = await page.evaluate(() => fetch('app.css').then((r) => r.text()));
  assert.match(css, /build two/);
  await ctx.close();
});

test('§1 the app served by `latch app serve` pairs with a relay on another origin; its CSP lets it reach only its own origin and that relay', { skip }, async () => {
  const relay = await startLatchServer();
  const url = await appServe(['--relay', relay.url]);
  assert.notEqual(new URL(url).origin, new URL(relay.url).origin);
  const other = await startLatchServer();
  const ctx = await (await chromium()).newContext();
  const page = await ctx.newPage();
  await page.goto(`${url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByLabel('Device name').fill('Own copy');
  const computer = await pairPage(page, relay.url, 'desk');
  await page.getByText('Listening for requests.').waitFor();
  const st = await latchRun(['status', '--json'], { home: computer });
  assert.equal(JSON.parse(st.stdout).device.reachable, true, st.stdout);
  // Another origin (a relay not given with --relay) is out of the page's reach.
  const blocked = await page.evaluate((u) => fetch(`${u}/v1/health`).then(() => 'reached', (e: Error) => e.name), other.url);
  assert.equal(blocked, 'TypeError', 'the CSP blocks connecting to an origin not given');
  const csp = (await (await fetch(`${url}/app/`)).headers.get('content-security-policy')) ?? '';
  assert.match(csp, new RegExp(`connect-src 'self' ${relay.url.replace(/[.]/g, '\\.')} ws://${new URL(relay.url).host.replace(/[.]/g, '\\.')};`));
  await ctx.close();
  await other.stop();
  await relay.stop();
});
