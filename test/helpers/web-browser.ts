/**
 * Real Debian Chromium for the web authenticator tests, driven by playwright-core. Tests skip
 * (with this reason) where /usr/bin/chromium is not installed.
 */
import { after } from 'node:test';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_SKIP: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

/** Repo root (this file runs as dist/test/helpers/web-browser.js). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

let browser: Promise<Browser> | undefined;
export function chromium(): Promise<Browser> {
  browser ??= import('playwright-core').then(({ chromium: c }) =>
    c.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    }),
  );
  return browser;
}
after(async () => {
  if (browser) await (await browser).close().catch(() => undefined);
});

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
