/**
 * The relay's VAPID key pair (RFC 8292), made once and kept in its data dir: `vapid.json`, mode
 * 0600, holding the P-256 private key and its public key (base64url, as web-push and the
 * browser's `applicationServerKey` take them). Every subscription a browser makes is bound to
 * the public key, so losing or replacing the file silently orphans every subscription: back it up
 * with the data dir (docs/WEB.md "Push").
 */
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import webpush from 'web-push';
import { readFileIfExists, writeFileAtomic } from '../util/atomic-file.js';
import { LatchError } from '../util/latch-error.js';

export const VAPID_FILE = 'vapid.json';

export interface VapidKeys {
  /** 65-byte uncompressed P-256 point, base64url: what the page subscribes with. */
  readonly publicKey: string;
  /** 32-byte P-256 scalar, base64url. Never leaves the server. */
  readonly privateKey: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Loads the data dir's VAPID keys, creating them on first use. */
export function loadOrCreateVapidKeys(dataDir: string): VapidKeys {
  const path = join(dataDir, VAPID_FILE);
  const text = readFileIfExists(path);
  if (text === undefined) {
    const keys = webpush.generateVAPIDKeys();
    writeFileAtomic(path, `${JSON.stringify({ v: 1, public_key: keys.publicKey, private_key: keys.privateKey })}\n`, 0o600);
    return { publicKey: keys.publicKey, privateKey: keys.privateKey };
  }
  // An older copy restored with looser permissions: the private key is as sensitive as a TLS key.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new LatchError('bad_vapid_file', `${path} is not valid JSON; restore it from a backup (or delete it to make new keys, which drops every push subscription)`);
  }
  const r = o as { public_key?: unknown; private_key?: unknown };
  if (typeof r.public_key !== 'string' || typeof r.private_key !== 'string' || !B64URL.test(r.public_key) || !B64URL.test(r.private_key)) {
    throw new LatchError('bad_vapid_file', `${path} does not hold a VAPID key pair`);
  }
  return { publicKey: r.public_key, privateKey: r.private_key };
}
