/**
 * Recovery (docs/CUSTODY.md "Recover"): the kit's recovery key signs an add-key of a new device
 * key; every device is told and may cancel during the delay; then the server co-signs.
 */
import type { Caller } from './token-service.js';
import type { TemplateCall } from '../ledger/flow/cadence-templates.js';
import { parseFlowAddress } from '../ledger/flow/flow-transaction.js';
import { assertNewKey } from './new-key-check.js';
import { isCustodyKeyShape } from './custody-key-shape.js';
import { fail, newId, parseName, type AccountRow, type Checked, type CustodyCore, type RecoveryRow, type RecoveryView } from './custody-core.js';

export class RecoveryFlow {
  constructor(private readonly c: CustodyCore) {}

  /** Starts (and with delay 0 completes) recovery: the recovery key signed an add-key for this device. */
  async recoverStart(caller: Caller, address: unknown, body: { transaction: unknown; device_name: unknown }): Promise<RecoveryView> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = await this.c.account(parseFlowAddress(address));
    const name = parseName(body.device_name);
    return this.c.decideLocked(row.address, 'recover-start', { device: caller.device }, async () => {
      if (row.owner !== caller.email) fail('wrong_account', 'log in with the email that owns this account to recover it', 403);
      this.#refuseAfterSelfCustody(row);
      const keys = (await this.c.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.c.check(row, body.transaction, keys, ['recovery']);
      this.#checkRecoveryCall(checked.call, caller.device);
      assertNewKey(keys, caller.device);
      const id = newId();
      const ready = this.c.now() + this.c.opts.recoveryDelaySeconds;
      await this.c.db.run("INSERT INTO recoveries (id, address, email, device_public_key, device_name, created_at, ready_at, status, key_index, kind) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL, 'device')", id, row.address, caller.email, caller.device, name, this.c.now(), ready);
      await this.c.audit({ account: row.address, action: 'recover-start', decision: 'accepted', detail: { recovery: id, device: caller.device, ready_at: ready } });
      await this.c.notify(row.address, { type: 'custody-recovery', recovery_id: id, account: row.address, device_name: name, ready_at: ready, server_url: this.c.opts.publicUrl() });
      if (this.c.opts.recoveryDelaySeconds === 0) return this.#recoverFinish(caller, row, id, checked);
      return { recovery_id: id, status: 'pending', ready_at: ready };
    });
  }

  /**
   * After self-custody the server key is revoked, so the server can never co-sign the recovery's
   * add-key: a recovery started then would wait out its delay and fail (issue 15 §6). The user's
   * own keys add a device instead (recovery kit + a device, `submit`).
   */
  #refuseAfterSelfCustody(row: AccountRow): void {
    if (row.self_custody === 1) {
      fail('self_custody', `account ${row.address} is in self-custody: the server key is revoked, so the server cannot co-sign a recovery. Add the new device with two keys you hold (the recovery kit and a device)`, 409);
    }
  }

  #checkRecoveryCall(c: TemplateCall, device: string): void {
    if (c.kind !== 'add-key' || c.key.publicKey !== device || !isCustodyKeyShape(c.key)) {
      fail('bad_transaction', 'recovery must add exactly this device\'s key (P-256/SHA2-256, weight 500)');
    }
  }

  /** After the delay: a freshly built and recovery-signed add-key (reference blocks expire). */
  async recoverComplete(caller: Caller, id: unknown, body: { transaction: unknown }): Promise<RecoveryView> {
    const row = await this.c.account((await this.#recovery(id)).address);
    return this.c.decideLocked(row.address, 'recover-complete', { recovery: id }, async () => {
      const r = await this.#recovery(id);
      if (r.kind !== 'device') fail('wrong_flow', 'this is a recovery-key change or a link: a device completes it by asking for the co-signature again', 409);
      if (r.device_public_key !== caller.device || r.email !== caller.email) fail('wrong_device', 'this recovery belongs to another device', 403);
      if (r.status === 'cancelled') fail('recovery_cancelled', 'an existing device cancelled this recovery', 409);
      if (r.status === 'completed') fail('recovery_closed', 'this recovery is already complete', 409);
      if (r.ready_at > this.c.now()) fail('recovery_pending', `the recovery delay runs until ${new Date(r.ready_at * 1000).toISOString()}`, 409);
      this.#refuseAfterSelfCustody(await this.c.account(row.address));
      const keys = (await this.c.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.c.check(row, body.transaction, keys, ['recovery']);
      this.#checkRecoveryCall(checked.call, caller.device);
      assertNewKey(keys, caller.device);
      return this.#recoverFinish(caller, row, r.id, checked);
    });
  }

  async #recoverFinish(caller: Caller, row: AccountRow, id: string, checked: Checked): Promise<RecoveryView> {
    const r = await this.#recovery(id);
    const out = await this.c.cosignAndSend(row, checked, 'recover');
    const idx = await this.c.recordKey(row.address, out.events, 'device', r.device_public_key, r.device_name);
    await this.c.db.run("UPDATE recoveries SET status = 'completed', key_index = ? WHERE id = ?", idx, id);
    return { recovery_id: id, status: 'completed', ready_at: r.ready_at, key_index: idx, id: out.id, transaction: out.transaction, ...(await this.c.tokens.issue({ email: caller.email, device: caller.device, account: row.address })) };
  }

  async #recovery(id: unknown): Promise<RecoveryRow> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad recovery id');
    const r = await this.c.db.get('SELECT * FROM recoveries WHERE id = ?', id) as RecoveryRow | undefined;
    if (!r) fail('unknown_recovery', 'no such recovery', 404);
    return r;
  }

  /** Any existing device of the account may cancel a pending recovery during the delay. */
  async recoverCancel(caller: Caller, id: unknown): Promise<{ status: 'cancelled' }> {
    const row = await this.c.forAccount(caller, (await this.#recovery(id)).address);
    return this.c.locks.run(row.address, async () => {
      const r = await this.#recovery(id);
      if (!await this.c.db.get("SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0", row.address, caller.device)) fail('wrong_device', 'only an existing device can cancel a recovery', 403);
      if (r.status !== 'pending') fail('recovery_closed', `the recovery is ${r.status}`, 409);
      await this.c.db.run("UPDATE recoveries SET status = 'cancelled' WHERE id = ?", r.id);
      await this.c.audit({ account: row.address, action: 'recover-cancel', decision: 'refused', detail: { recovery: r.id, by: caller.device, kind: r.kind } });
      return { status: 'cancelled' as const };
    });
  }
}
