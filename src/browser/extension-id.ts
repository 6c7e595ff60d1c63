/**
 * The Latch extension's id and where each browser reads native-messaging host manifests
 * (developer.chrome.com "Native messaging", "Native messaging host location"; Chromium's
 * chrome/common/chrome_paths.cc). An unpacked extension's id is derived from the manifest's
 * `key` (DER SubjectPublicKeyInfo): the first 16 bytes of its SHA-256, each hex digit 0-f
 * written as a letter a-p. Pinning the key pins the id, so the host manifest can name it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_HOST_NAME = 'dev.latch.browser';
export const BROWSERS = ['chromium', 'chrome', 'brave', 'edge'] as const;
export type BrowserKind = (typeof BROWSERS)[number];

/** dist/extension, shipped in the npm package beside dist/src. */
export const EXTENSION_DIR = fileURLToPath(new URL('../../extension/', import.meta.url));

export function extensionIdFromKey(keyBase64: string): string {
  const hex = createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('hex').slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
}

/** The id of the extension as shipped (dist/extension/manifest.json). */
export function shippedExtensionId(dir = EXTENSION_DIR): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { key: string };
  return extensionIdFromKey(manifest.key);
}

/** Linux locations; a custom --user-data-dir is read instead of these (checked with Chromium here). */
export function hostManifestDir(browser: BrowserKind, userDataDir?: string): string {
  if (userDataDir !== undefined) return join(userDataDir, 'NativeMessagingHosts');
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  const dirs: Record<BrowserKind, string> = {
    chromium: join(config, 'chromium'),
    chrome: join(config, 'google-chrome'),
    brave: join(config, 'BraveSoftware', 'Brave-Browser'),
    edge: join(config, 'microsoft-edge'),
  };
  return join(dirs[browser], 'NativeMessagingHosts');
}

/** Which browser started us, for "from Chromium on laptop": the parent process's name. */
export function callingBrowserName(): string {
  try {
    const comm = readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim().toLowerCase();
    if (comm.includes('chromium')) return 'Chromium';
    if (comm.includes('brave')) return 'Brave';
    if (comm.includes('edge')) return 'Edge';
    if (comm.includes('chrome')) return 'Chrome';
  } catch {
    /* not Linux, or no /proc */
  }
  return 'the browser';
}
