/**
 * Real Debian Chromium for the web authenticator tests, driven by playwright-core. Tests skip
 * (with this reason) where /usr/bin/chromium is not installed.
 */
import { after } from 'node:test';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_SKIP: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

/** Repo root (this file runs as dist/test/helpers/web-browser.js). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

const BASE_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let browser: Promise<Browser> | undefined;
/** The one shared Chromium of a test file (no camera flags). */
export function chromium(): Promise<Browser> {
  browser ??= launchChromium();
  return browser;
}

const launched: Promise<Browser>[] = [];
/**
 * A Chromium of its own, with extra command-line flags (e.g. a fake camera) and environment
 * (e.g. a HOME whose NSS database trusts a test CA, test-tls.ts). The caller should
 * close it; any still open when the file ends are closed then.
 */
export function launchChromium(extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<Browser> {
  const b = import('playwright-core').then(({ chromium: c }) => c.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...extraArgs], ...(env ? { env } : {}) }));
  launched.push(b);
  return b;
}
after(async () => {
  for (const b of launched) await (await b.catch(() => undefined))?.close().catch(() => undefined);
});

/** Flags for Chromium's fake camera showing `y4mFile` (or its built-in test pattern when omitted). */
export function fakeCameraArgs(y4mFile?: string): string[] {
  return ['--use-fake-device-for-media-stream', ...(y4mFile ? [`--use-file-for-fake-video-capture=${y4mFile}`] : [])];
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** On an open app page: name the device, paste the pairing link, press Pair, wait for "Paired with <computer>". */
export async function pairPageByLink(page: Page, link: string, opts: { deviceName?: string; computerName?: string } = {}): Promise<void> {
  await page.getByLabel('Device name').fill(opts.deviceName ?? 'Ada web');
  await page.getByLabel('Pairing link').fill(link);
  await page.getByRole('button', { name: 'Pair', exact: true }).click();
  await page.getByRole('status').getByText(`Paired with ${opts.computerName ?? 'laptop'}`).waitFor();
}

/**
 * Resolves after two animation frames, so the page's tap guard (web/ui/tap-guard.ts) has measured
 * the layout after a change (a resize, a scroll): a button that moved is disabled by then.
 */
export async function layoutSettled(page: Page): Promise<void> {
  await page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
}

/**
 * Taps a request card's Approve the way a person does: the page is scrolled to the button first,
 * then the button is tapped once the tap guard (web/ui/tap-guard.ts) has armed it again.
 * Playwright's own click scrolls a button that is not wholly in view (even by a fraction of a
 * pixel at the screen's edge) in the same step as the tap, and the guard rightly ignores a tap on
 * a button that has just moved without the user scrolling. So: centre it, let the guard's frame
 * see the move (it disables the button), and let click() wait for it to be enabled again.
 */
export async function tapApprove(button: Locator): Promise<void> {
  await button.evaluate((b) => b.scrollIntoView({ block: 'center' }));
  await layoutSettled(button.page());
  // Wait for the guard to arm it here, not in click(): a click that finds the button disabled
  // retries with forced scrolling (to the edge of the screen), which moves it again.
  const handle = await button.elementHandle();
  await button.page().waitForFunction((b) => !(b as HTMLButtonElement).disabled, handle);
  await button.click();
}

/**
 * A CDP virtual authenticator in `page` (WebAuthn.addVirtualAuthenticator): the browser's own
 * authenticator, which a page's fallback from Latch reaches. Resolves with its removal.
 */
export async function virtualAuthenticator(page: Page): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return async () => void (await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId }));
}
