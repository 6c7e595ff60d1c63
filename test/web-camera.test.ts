/**
 * Issue 5, "Camera": pairing by scanning `latch pair`'s QR code in real Chromium. Chromium's
 * fake camera plays a Y4M file with the link rendered as a QR code (test/helpers/qr-video.ts);
 * the page's real getUserMedia → canvas → zxing-wasm path reads it, against a real `latch
 * server` and `latch pair`. Each case launches its own Chromium: the camera flags differ.
 * Skips where /usr/bin/chromium is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { latch, tempDir, type LatchProcess, type LatchServer, sharedLatchServer } from './helpers/latch-process.js';
import { qrY4m, writeQrVideo, type QrVideoOptions } from './helpers/qr-video.js';
import { CHROMIUM_SKIP, artifactPath, fakeCameraArgs, launchChromium } from './helpers/web-browser.js';

const skip = CHROMIUM_SKIP;
const PHONE = { width: 390, height: 844 };
const server = sharedLatchServer;

/** `latch pair --uri-only` in a fresh home: the link it prints, and the process (its check code goes to stderr). */
async function startPair(s: LatchServer, name: string): Promise<{ link: string; pair: LatchProcess }> {
  const pair = latch(['pair', '--server', s.url, '--uri-only', '--timeout', '60', '--name', name], { home: tempDir('cam-computer') });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  return { link, pair };
}

function qrFile(text: string, opts: QrVideoOptions = {}): string {
  return writeQrVideo(join(tempDir('qr-video'), 'qr.y4m'), text, opts);
}

interface Opened {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Every URL the page (and its service worker) asked for. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A Chromium of its own whose fake camera shows the Y4M file `video` (or Chromium's built-in
 * test pattern when undefined), the app open on its Pair screen at the phone size. Camera
 * permission is granted (a person tapping Allow) only when `grantCamera`; otherwise headless
 * Chromium refuses it (a person tapping Block).
 */
async function openApp(url: string, video: string | undefined, grantCamera: boolean): Promise<Opened> {
  const browser = await launchChromium(fakeCameraArgs(video));
  const context = await browser.newContext({ viewport: PHONE, ...(grantCamera ? { permissions: ['camera'] } : {}) });
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  // Instrumentation only (getUserMedia stays the browser's own): remember the streams the page
  // opens, so the test can see the camera was turned off again.
  await context.addInitScript(() => {
    const md = navigator.mediaDevices;
    if (!md) return;
    const real = md.getUserMedia.bind(md);
    const streams: MediaStream[] = [];
    (globalThis as unknown as { latchTestStreams: MediaStream[] }).latchTestStreams = streams;
    md.getUserMedia = async (c) => {
      const s = await real(c);
      streams.push(s);
      return s;
    };
  });
  const page = await context.newPage();
  await page.goto(`${url}/app/#pair`);
  await page.waitForSelector('body[data-ready="true"]');
  return { browser, context, page, requests, close: () => browser.close() };
}

/** How many camera streams the page opened, and how many of their tracks are still live. */
function cameraState(page: Page): Promise<{ streams: number; live: number }> {
  return page.evaluate(() => {
    const streams = (globalThis as unknown as { latchTestStreams: MediaStream[] }).latchTestStreams;
    return { streams: streams.length, live: streams.flatMap((s) => s.getTracks()).filter((t) => t.readyState === 'live').length };
  });
}

async function alertText(page: Page): Promise<string> {
  const alert = page.getByRole('alert');
  await alert.waitFor();
  return ((await alert.textContent()) ?? '').trim();
}

function focusedId(page: Page): Promise<string | undefined> {
  return page.evaluate(() => document.activeElement?.id);
}

/** Waits for "Paired with NAME" in the status line; fails at once with the page's alert if one shows instead. */
async function waitForPaired(page: Page, name: string): Promise<void> {
  const paired = page.getByRole('status').getByText(`Paired with ${name}`);
  await Promise.race([
    paired.waitFor({ timeout: 30_000 }),
    page
      .getByRole('alert')
      .waitFor({ timeout: 30_000 })
      .then(async () => assert.fail(`the page says: ${await page.getByRole('alert').textContent()}`))
      .catch((e: unknown) => {
        if (e instanceof assert.AssertionError) throw e;
        return new Promise(() => undefined); // no alert: the other branch decides
      }),
  ]);
}

const checkCode = (text: string | null | undefined): string | undefined => /Check code: (\d{3}-\d{3})/.exec(text ?? '')?.[1];

test('Pairing by camera: Scan reads latch pair\'s QR code from the camera, pairs, and the check codes match', { skip }, async () => {
  const s = await server();
  const { link, pair } = await startPair(s, 'laptop');
  const app = await openApp(s.url, qrFile(link), true);
  try {
    const { page } = app;
    await page.getByLabel('Device name').fill('Ada camera');
    await page.getByRole('button', { name: 'Scan' }).click();
    await waitForPaired(page, 'laptop');
    assert.equal((await pair.exited).code, 0, pair.stderr());
    const pageCode = checkCode(await page.locator('#check-code').textContent());
    assert.ok(pageCode, 'the page shows a check code');
    assert.equal(pageCode, checkCode(pair.stderr()), 'same check code on the computer and in the page');
    assert.equal(await page.getByRole('alert').isVisible(), false);
    await page.screenshot({ path: artifactPath('web-camera-paired-390x844.png'), fullPage: true });

    // The camera was really used, and is off again.
    assert.deepEqual(await cameraState(page), { streams: 1, live: 0 });
    assert.equal(await page.locator('#scanner').isHidden(), true);
    // The decoder's wasm came from latch server, and nothing was fetched from anywhere else.
    const wasm = app.requests.filter((u) => u.endsWith('.wasm'));
    assert.deepEqual([...new Set(wasm)], [`${s.url}/app/zxing_reader.wasm`]);
    assert.deepEqual(app.requests.filter((u) => !u.startsWith(`${s.url}/`)), []);
  } finally {
    await app.close();
  }
});

test('Camera denied: the page says so and focuses "Pairing link"; a pasted link still pairs', { skip }, async () => {
  const s = await server();
  const { link, pair } = await startPair(s, 'desk');
  // A fake camera exists (showing a valid pairing QR), but permission is not given.
  const app = await openApp(s.url, qrFile(link), false);
  try {
    const { page } = app;
    await page.getByRole('button', { name: 'Scan' }).click();
    assert.equal(await alertText(page), 'Camera permission denied [camera_denied]. Paste the link into "Pairing link" instead.');
    assert.equal(await focusedId(page), 'pairing-link');
    assert.equal(await page.locator('#scanner').isHidden(), true);
    await page.screenshot({ path: artifactPath('web-camera-denied-390x844.png'), fullPage: true });

    await page.keyboard.insertText(link); // typed into the focused field
    await page.getByRole('button', { name: 'Pair', exact: true }).click();
    await waitForPaired(page, 'desk');
    assert.equal((await pair.exited).code, 0, pair.stderr());
    assert.equal(checkCode(await page.locator('#check-code').textContent()), checkCode(pair.stderr()));
    assert.equal(await page.getByRole('alert').isVisible(), false, 'the camera error is gone once pairing starts');
  } finally {
    await app.close();
  }
});

test('a QR code that is not a pairing link gets the clear bad-link error', { skip }, async () => {
  const s = await server();
  const app = await openApp(s.url, qrFile('https://example.com/not-a-latch-link'), true);
  try {
    const { page } = app;
    await page.getByRole('button', { name: 'Scan' }).click();
    const text = await alertText(page);
    assert.match(text, /^That is not a pairing link: .*not a Latch pairing link.*\[bad_pairing_link\]$/);
    assert.equal(await page.getByLabel('Pairing link').inputValue(), 'https://example.com/not-a-latch-link', 'what was scanned is shown, as text');
    assert.equal(await focusedId(page), 'pairing-link');
    assert.deepEqual(await cameraState(page), { streams: 1, live: 0 });
    assert.equal(await page.getByRole('status').textContent().then((t) => /Paired/.test(t ?? '')), false);
  } finally {
    await app.close();
  }
});

test('a small QR code in a 1280x720 studio-range picture (a terminal seen from a step away) is read too', { skip }, async () => {
  const s = await server();
  // A pairing-link-sized text at 3 px a module: the scanner scales 1280 px down to 960 before
  // decoding, so this is about 2.3 px a module when decoded.
  const text = `https://example.com/${'x'.repeat(150)}`;
  const app = await openApp(s.url, qrFile(text, { width: 1280, height: 720, moduleSize: 3, levels: 'video' }), true);
  try {
    const { page } = app;
    await page.getByRole('button', { name: 'Scan' }).click();
    assert.match(await alertText(page), /^That is not a pairing link: .*\[bad_pairing_link\]$/);
    assert.equal(await page.getByLabel('Pairing link').inputValue(), text);
  } finally {
    await app.close();
  }
});

test('while scanning the page shows the camera and what to do; an unreadable code keeps it scanning; "Stop camera" turns it off', { skip }, async () => {
  const s = await server();
  // A damaged QR code: it looks like latch pair's, but no decoder can read it.
  const { link, pair } = await startPair(s, 'laptop');
  pair.kill();
  const app = await openApp(s.url, qrFile(link, { unreadable: true }), true);
  try {
    const { page } = app;
    await page.getByRole('button', { name: 'Scan' }).click();
    await page.getByText('Point the camera at the QR code that latch pair shows.').waitFor();
    await page.waitForFunction(() => {
      const v = document.getElementById('scan-video') as HTMLVideoElement;
      return v.videoWidth > 0 && !v.paused;
    });
    await page.waitForTimeout(1500); // several decode attempts
    assert.equal(await page.getByText('Point the camera at the QR code that latch pair shows.').isVisible(), true, 'still scanning');
    assert.equal(await page.getByRole('alert').isVisible(), false);
    assert.equal(await page.getByLabel('Pairing link').inputValue(), '');
    assert.deepEqual(await cameraState(page), { streams: 1, live: 1 });
    await page.screenshot({ path: artifactPath('web-scanning-390x844.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: artifactPath('web-scanning-1280x800.png'), fullPage: true });
    await page.getByRole('button', { name: 'Stop camera' }).click();
    assert.equal(await page.locator('#scanner').isHidden(), true);
    await page.waitForFunction(() => (globalThis as unknown as { latchTestStreams: MediaStream[] }).latchTestStreams.every((st) => st.getTracks().every((t) => t.readyState === 'ended')));
    assert.deepEqual(await cameraState(page), { streams: 1, live: 0 });
    assert.equal(await page.getByRole('alert').isVisible(), false, 'stopping is not an error');
    // Scanning again opens the camera again.
    await page.getByRole('button', { name: 'Scan' }).click();
    await page.getByText('Point the camera at the QR code that latch pair shows.').waitFor();
    assert.deepEqual(await cameraState(page), { streams: 2, live: 1 });
    await page.getByRole('button', { name: 'Stop camera' }).click();
  } finally {
    await app.close();
  }
});

test('the fake-camera helper writes a C420 Y4M: header, then FRAME + Y + U + V per frame, black modules in a white quiet zone', () => {
  const w = 128;
  const h = 96;
  const y4m = qrY4m('hi', { width: w, height: h, frames: 2, fps: 5 });
  const header = 'YUV4MPEG2 W128 H96 F5:1 Ip A1:1 C420jpeg\n';
  assert.equal(y4m.subarray(0, header.length).toString('latin1'), header);
  const frameLen = 'FRAME\n'.length + w * h * 1.5;
  assert.equal(y4m.length, header.length + 2 * frameLen);
  const f0 = y4m.subarray(header.length, header.length + frameLen);
  assert.deepEqual(f0, y4m.subarray(header.length + frameLen), 'identical frames');
  assert.equal(f0.subarray(0, 6).toString('latin1'), 'FRAME\n');
  const luma = f0.subarray(6, 6 + w * h);
  assert.ok(luma.every((v) => v === 0 || v === 255));
  // 'hi' is a version 1 code: 21 modules + 2 x 4 quiet = 29, so 3 px a module in 96 px, centred
  // at (32, 16). The corners (quiet zone) are white; the finder patterns' outer corners black.
  assert.equal(luma[0], 255);
  assert.equal(luma[w * h - 1], 255);
  assert.equal(luma[16 * w + 32], 0);
  assert.equal(luma[16 * w + 31], 255);
  assert.equal(luma[(16 + 63 - 1) * w + 32], 0);
  assert.equal(luma[(16 + 63) * w + 32], 255);
  // 40 px cannot hold 29 modules at 2 px each: the helper refuses rather than write an unreadable code.
  assert.throws(() => qrY4m('hi', { width: 40, height: 40 }), TypeError);
  assert.ok(f0.subarray(6 + w * h).every((v) => v === 128), 'grey chroma');
});
