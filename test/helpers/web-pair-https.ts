/**
 * Pair the web authenticator (real Chromium) with a real `latch pair` through an HTTPS URL:
 * `latch server --tls-cert` itself, or a reverse proxy in front of it (deploy/). Chromium and
 * the CLI trust `caCertFile` the way a user would make them: an NSS trust entry for the browser
 * (like installing a CA on a phone), NODE_EXTRA_CA_CERTS for node.
 */
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { latch, latchRun, tempDir } from './latch-process.js';
import { launchChromium, pairPageByLink } from './web-browser.js';
import { homeTrustingCa } from './test-tls.js';

export interface WebPairedOverHttps {
  computer: string;
  page: Page;
  /** Environment for latch CLI runs that must trust the CA. */
  caEnv: NodeJS.ProcessEnv;
  /** `latch status --json`'s device.reachable (the page answers `me` through the relay). */
  reachable(): Promise<boolean>;
  close(): Promise<void>;
}

export async function pairWebOverHttps(url: string, caCertFile: string): Promise<WebPairedOverHttps> {
  const caEnv = { NODE_EXTRA_CA_CERTS: caCertFile };
  const computer = tempDir('https-computer');
  const pair = latch(['pair', '--server', url, '--uri-only', '--timeout', '60', '--name', 'laptop'], { home: computer, env: caEnv });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  assert.match(link, new RegExp(`&r=${encodeURIComponent(url).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), 'the link names the HTTPS URL');

  const browser: Browser = await launchChromium([], { ...process.env, HOME: homeTrustingCa(caCertFile, tempDir('browser')) });
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await page.goto(`${url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  // A real secure context: no certificate interstitial, and the service worker registers.
  assert.equal(await page.evaluate(() => window.isSecureContext && location.protocol), 'https:');
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await pairPageByLink(page, link);
  assert.equal((await pair.exited).code, 0, pair.stderr());
  const pageCode = /Check code: (\d{3}-\d{3})/.exec((await page.locator('#check-code').textContent()) ?? '')?.[1];
  assert.ok(pageCode, 'the page shows a check code');
  assert.equal(pageCode, /Check code: (\d{3}-\d{3})/.exec(pair.stderr())?.[1]);
  await page.getByText('Listening for requests.').waitFor({ timeout: 20_000 }); // the WebSocket (wss:) is subscribed

  return {
    computer,
    page,
    caEnv,
    async reachable() {
      const st = await latchRun(['status', '--json'], { home: computer, env: caEnv });
      assert.equal(st.code, 0, st.stderr);
      return (JSON.parse(st.stdout) as { device: { reachable: boolean } }).device.reachable;
    },
    close: () => browser.close(),
  };
}
