/**
 * Notice inboxes of an account's devices (docs/CUSTODY.md "Notice inboxes", issue 15 §4):
 * where the server boxes join, sign and recovery notices to. A registration replaces the
 * device's previous inbox, so it must be signed by that device's key (inbox-signature.ts), be
 * fresh (±INBOX_SIGNATURE_SKEW_SECONDS) and newer than the one it replaces (no replay of an old
 * registration), and name a relay the server may deliver to (relay-allow-list.ts).
 */
import type { CustodyDb, SqlQueries } from './custody-db.js';
import { LatchError } from '../util/latch-error.js';
import { hexToBytes } from '../ledger/flow/flow-hex.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { nodeEcdsa } from '../ledger/flow/flow-ecdsa-node.js';
import type { DeviceInbox } from './custody-api.js';
import { INBOX_SIGNATURE_SKEW_SECONDS, inboxMessage } from './inbox-signature.js';
import type { RelayAllowList } from './relay-allow-list.js';

const FIELDS = 'box_public_key,queue_id,relay_url,signature,signed_at';

/** SQLite only: PostgreSQL databases start with the column (custody-schema.ts). */
export async function migrateInboxes(db: CustodyDb): Promise<void> {
  const cols = await db.all<{ name: string }>('PRAGMA table_info(inboxes)');
  // Inboxes registered before signatures existed keep working until their device re-registers.
  if (!cols.some((c) => c.name === 'signed_at')) await db.exec('ALTER TABLE inboxes ADD COLUMN signed_at INTEGER NOT NULL DEFAULT 0');
}

const bad = (message: string): never => {
  throw new LatchError('bad_inbox', message);
};

/** The wire shape, strictly: exactly the five fields, each well-formed. */
export function parseSignedInbox(v: unknown): DeviceInbox & { signed_at: number; signature: string } {
  const o = v as Record<string, unknown>;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) bad('inbox must be an object');
  if (Object.keys(o).sort().join(',') !== FIELDS) bad('inbox has exactly relay_url, queue_id, box_public_key, signed_at and signature (signed by the device key)');
  if (typeof o.relay_url !== 'string' || !/^https?:\/\/[^\s]{1,200}$/.test(o.relay_url)) bad('inbox.relay_url must be an http(s) URL');
  if (typeof o.queue_id !== 'string' || !/^[A-Za-z0-9_-]{21}[AQgw]$/.test(o.queue_id)) bad('inbox.queue_id is not a queue id');
  if (typeof o.box_public_key !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(o.box_public_key)) bad('inbox.box_public_key must be 32 bytes base64url');
  if (typeof o.signed_at !== 'number' || !Number.isSafeInteger(o.signed_at) || o.signed_at < 0) bad('inbox.signed_at must be Unix seconds');
  if (typeof o.signature !== 'string' || !/^[0-9a-f]{128}$/.test(o.signature)) bad('inbox.signature must be 64 bytes hex (r‖s)');
  return { relay_url: o.relay_url as string, queue_id: o.queue_id as string, box_public_key: o.box_public_key as string, signed_at: o.signed_at as number, signature: o.signature as string };
}

export class InboxRegistry {
  constructor(
    private readonly db: CustodyDb,
    private readonly relays: RelayAllowList,
    private readonly now: () => number,
  ) {}

  /**
   * Checks a registration of `device`'s inbox for `account` (null: the account is being created)
   * and returns what to store; the caller saves it with save() in its own transaction.
   */
  async check(body: unknown, o: { account: string | null; device: string; requestHost: string | undefined }): Promise<DeviceInbox & { signed_at: number }> {
    const s = parseSignedInbox(body);
    this.relays.route(s.relay_url, o.requestHost);
    const inbox: DeviceInbox = { relay_url: s.relay_url, queue_id: s.queue_id, box_public_key: s.box_public_key };
    // One answer for every signature failure (a forged one, another key's, another account's).
    if (!nodeEcdsa.verify(inboxMessage({ account: o.account, device: o.device, inbox, signedAt: s.signed_at }), hexToBytes(s.signature), o.device, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) {
      throw new LatchError('bad_signature', 'the inbox registration is not signed by this device\'s key', { status: 403 });
    }
    if (Math.abs(s.signed_at - this.now()) > INBOX_SIGNATURE_SKEW_SECONDS) {
      throw new LatchError('stale_signature', `the inbox registration was signed more than ${INBOX_SIGNATURE_SKEW_SECONDS} s from the server's clock; check this device's clock`, { status: 403 });
    }
    if (o.account !== null) {
      const prev = await this.db.get<{ signed_at: number }>('SELECT signed_at FROM inboxes WHERE address = ? AND device = ?', o.account, o.device);
      if (prev && s.signed_at < prev.signed_at) throw new LatchError('stale_signature', 'a newer inbox registration of this device is already in place', { status: 409 });
    }
    return { ...inbox, signed_at: s.signed_at };
  }

  /** `q`: the caller's transaction, or the database. */
  async save(q: SqlQueries, account: string, device: string, inbox: DeviceInbox & { signed_at: number }): Promise<void> {
    await q.run(
      'INSERT INTO inboxes (address, device, relay_url, queue_id, box_public_key, signed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (address, device) DO UPDATE SET relay_url = excluded.relay_url, queue_id = excluded.queue_id, box_public_key = excluded.box_public_key, signed_at = excluded.signed_at',
      account, device, inbox.relay_url, inbox.queue_id, inbox.box_public_key, inbox.signed_at,
    );
  }
}
