/**
 * The recovery kit as a file: written ONLY into a folder the user names, never kept in the
 * keystore. The format (Argon2id + XChaCha20-Poly1305, address as AAD) is
 * custody-recovery-kit-format.ts, shared with the web authenticator.
 *
 * "Is this folder synced?" heuristic (Hyphen's users lost backups in unsynced folders): we warn
 * unless the path, or a parent, has a name used by common sync clients (Dropbox, Google Drive,
 * OneDrive, iCloud / Mobile Documents, CloudDrive, Box, pCloud, Nextcloud, ownCloud, Sync,
 * MEGA, Syncthing) or holds a client's marker (.dropbox, .stfolder, .sync, .owncloudsync.log).
 * It can be wrong both ways; it is a reminder, not a check.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { LatchError } from '../util/latch-error.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Sodium } from '../protocol/sodium.js';
import type { CustodySigner } from './custody-device-key.js';
import { decodeRecoveryKit, encodeRecoveryKit, recoveryKitFileName } from './custody-recovery-kit-format.js';

export { newRecoveryKey } from './custody-recovery-kit-format.js';

export function recoveryKitPath(dir: string, address: string): string {
  return join(dir, recoveryKitFileName(address));
}

export function writeRecoveryKit(sodium: Sodium, dir: string, address: string, secret: Uint8Array, passphrase: string): string {
  const path = recoveryKitPath(dir, address);
  writeFileAtomic(path, encodeRecoveryKit(sodium, address, secret, passphrase));
  return path;
}

export function readRecoveryKit(sodium: Sodium, path: string, passphrase: string): { address: string; publicKey: string; signer: CustodySigner } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LatchError('bad_recovery_kit', `cannot read the recovery kit ${path}: ${(e as Error).message.slice(0, 120)}`);
  }
  return decodeRecoveryKit(sodium, text, passphrase, `the recovery kit ${path}`);
}

const SYNC_NAMES = /^(dropbox.*|google ?drive|my drive|onedrive.*|icloud ?drive|mobile documents|clouddrive|cloud ?drive|box|box sync|pcloud.*|nextcloud|owncloud|sync|mega|megasync|syncthing|seafile.*)$/i;
const SYNC_MARKERS = ['.dropbox', '.stfolder', '.sync', '.owncloudsync.log', '.nextcloudsync.log'];

/** The heuristic described at the top; true when the folder looks synced. */
export function looksSynced(dir: string): boolean {
  let d = resolve(dir);
  for (;;) {
    const base = d.split(sep).pop() ?? '';
    if (SYNC_NAMES.test(base) || /CloudStorage$/.test(base)) return true;
    if (SYNC_MARKERS.some((m) => existsSync(join(d, m)))) return true;
    const up = dirname(d);
    if (up === d) return false;
    d = up;
  }
}

