/**
 * Joining a device (2FA, docs/CUSTODY.md "Join"): the new device asks, every device is told, an
 * existing device builds and signs the add-key of exactly the new key, the server co-signs.
 */
import type { Caller } from './token-service.js';
import { parseFlowAddress } from '../ledger/flow/flow-transaction.js';
import { assertNewKey } from './new-key-check.js';
import { isCustodyKeyShape } from './custody-key-shape.js';
import { nameClash } from './device-name-clash.js';
import { JOIN_TTL_SECONDS, type TokenPair } from './custody-api.js';
import { fail, newId, parseName, type CustodyCore, type SentView } from './custody-core.js';

interface JoinRow {
  id: string;
  address: string;
  email: string;
  device_public_key: string;
  device_name: string;
  origin: string;
  created_at: number;
  expires_at: number;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  key_index: number | null;
}

export class JoinFlow {
  constructor(private readonly c: CustodyCore) {}

  async joinStart(caller: Caller, address: unknown, body: { device_name: unknown }, origin: string): Promise<{ join_id: string; expires_at: number }> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = await this.c.account(parseFlowAddress(address));
    const name = parseName(body.device_name);
    if (row.owner !== caller.email) fail('wrong_account', 'log in with the email that owns this account to join it', 403);
    if (await this.c.db.get('SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND revoked = 0', row.address, caller.device)) fail('already_member', 'this device is already a key of the account', 409);
    assertNewKey((await this.c.opts.ledger.getAccount(row.address)).keys, caller.device);
    const id = newId();
    const now = this.c.now();
    const expires = now + JOIN_TTL_SECONDS;
    const clash = nameClash(name, (await this.c.db.all("SELECT device_name FROM custody_keys WHERE address = ? AND role = 'device' AND revoked = 0 AND device_name IS NOT NULL", row.address) as { device_name: string }[]).map((k) => k.device_name));
    await this.c.db.run("INSERT INTO joins (id, address, email, device_public_key, device_name, origin, created_at, expires_at, status, key_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL)", id, row.address, caller.email, caller.device, name, origin, now, expires);
    await this.c.audit({ account: row.address, action: 'join-request', decision: 'info', detail: { join: id, device: caller.device, name, origin, ...(clash ? { name_clash: clash } : {}) } });
    await this.c.notify(row.address, { type: 'custody-join', join_id: id, account: row.address, device_name: name, device_public_key: caller.device, origin, requested_at: now, ...(clash ? { name_clash: clash } : {}), expires_at: expires, server_url: this.c.opts.publicUrl() });
    return { join_id: id, expires_at: expires };
  }

  async #join(id: unknown): Promise<JoinRow> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad join id');
    const j = await this.c.db.get('SELECT * FROM joins WHERE id = ?', id) as JoinRow | undefined;
    if (!j) fail('unknown_join', 'no such join request', 404);
    if (j.status === 'pending' && j.expires_at <= this.c.now()) {
      await this.c.db.run("UPDATE joins SET status = 'expired' WHERE id = ?", j.id);
      j.status = 'expired';
    }
    return j;
  }

  /** The joining device polls; once approved it gets tokens bound to the account. */
  async joinStatus(caller: Caller, id: unknown): Promise<{ status: JoinRow['status']; expires_at: number; key_index?: number } & Partial<TokenPair>> {
    const j = await this.#join(id);
    if (j.device_public_key !== caller.device || j.email !== caller.email) fail('wrong_device', 'this join request belongs to another device', 403);
    const base = { status: j.status, expires_at: j.expires_at };
    if (j.status !== 'approved') return base;
    return { ...base, key_index: j.key_index!, ...(await this.c.tokens.issue({ email: j.email, device: j.device_public_key, account: j.address })) };
  }

  /** Existing device approves: it built and signed the add-key transaction itself. */
  async joinApprove(caller: Caller, id: unknown, body: { transaction: unknown }): Promise<SentView & { key_index: number }> {
    const row = await this.c.forAccount(caller, (await this.#join(id)).address);
    return this.c.decideLocked(row.address, 'join-approve', { join: id, device: caller.device }, async () => {
      // Read inside the lock: a parallel approval of this join has finished by now (§2).
      const j = await this.#join(id);
      if (j.status !== 'pending') fail(j.status === 'expired' ? 'join_expired' : 'join_closed', `the join request is ${j.status}`, 409);
      const keys = (await this.c.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.c.check(row, body.transaction, keys, ['device']);
      const c = checked.call;
      if (c.kind !== 'add-key' || c.key.publicKey !== j.device_public_key || !isCustodyKeyShape(c.key)) {
        fail('bad_transaction', 'the approval must add exactly the joining device\'s key (P-256/SHA2-256, weight 500)');
      }
      assertNewKey(keys, c.key.publicKey);
      const out = await this.c.cosignAndSend(row, checked, 'join-approve');
      const idx = await this.c.recordKey(row.address, out.events, 'device', j.device_public_key, j.device_name);
      await this.c.db.run("UPDATE joins SET status = 'approved', key_index = ? WHERE id = ?", idx, j.id);
      return { id: out.id, transaction: out.transaction, status: out.status, key_index: idx };
    });
  }

  async joinDeny(caller: Caller, id: unknown): Promise<{ status: 'denied' }> {
    const row = await this.c.forAccount(caller, (await this.#join(id)).address);
    return this.c.locks.run(row.address, async () => {
      const j = await this.#join(id);
      if (j.status !== 'pending') fail('join_closed', `the join request is ${j.status}`, 409);
      await this.c.db.run("UPDATE joins SET status = 'denied' WHERE id = ?", j.id);
      await this.c.audit({ account: row.address, action: 'join-deny', decision: 'refused', detail: { join: j.id, by: caller.device } });
      return { status: 'denied' as const };
    });
  }
}
