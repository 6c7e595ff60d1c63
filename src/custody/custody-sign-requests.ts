/**
 * Two devices sign, no server key (docs/CUSTODY.md "Self-custody"): a device signs and asks the
 * account's other devices through the relay; another device adds its envelope signature.
 */
import { createHash } from 'node:crypto';
import type { Caller } from './token-service.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { parseTemplateCall } from '../ledger/flow/cadence-templates.js';
import { hexToBytes } from '../ledger/flow/flow-hex.js';
import { nodeEcdsa } from '../ledger/flow/flow-ecdsa-node.js';
import { envelopeMessage, normalizeTransaction } from '../ledger/flow/flow-transaction.js';
import { fromRestTransaction, toRestTransaction, type RestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { ufix64ToUnits } from '../ledger/flow/json-cadence.js';
import { assertNewKey } from './new-key-check.js';
import { isCustodyKeyShape } from './custody-key-shape.js';
import { JOIN_TTL_SECONDS } from './custody-api.js';
import { fail, newId, type CustodyCore, type SentView } from './custody-core.js';
import { linkChecks } from './custody-links.js';

interface SignRequestRow {
  id: string;
  address: string;
  requester: string;
  tx: string;
  expires_at: number;
  status: 'pending' | 'completed' | 'denied' | 'expired';
  result_id: string | null;
}

export class SignRequestFlow {
  constructor(private readonly c: CustodyCore) {}

  /** A device signed; the other devices are asked (through the relay) to add their signature. */
  async signRequestStart(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<{ request_id: string; expires_at: number }> {
    const row = await this.c.forAccount(caller, address);
    return this.c.decideLocked(row.address, 'sign-request', { device: caller.device }, async () => {
      const keys = (await this.c.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.c.check(row, body.transaction, keys, ['device']);
      const call = checked.call;
      // After self-custody a link or unlink comes here, not through the link routes: the same
      // link checks (custody-links.ts linkChecks). A link already made needs no second signature.
      if (call.kind === 'link' || call.kind === 'unlink') {
        const already = await linkChecks(this.c, call.kind, row, call.parent, caller.device);
        if (already) fail('already_linked', `${row.address} is already linked to ${call.parent} (${already.state}); nothing to sign`, 409);
      }
      if (checked.call.kind === 'add-key') {
        if (!isCustodyKeyShape(checked.call.key)) fail('bad_key', 'an added key is P-256/SHA2-256 with weight 500, so no one key reaches 1000 alone');
        assertNewKey(keys, checked.call.key.publicKey);
      }
      const mine = await this.c.db.get("SELECT idx, device_name FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0", row.address, caller.device) as { idx: number; device_name: string | null } | undefined;
      if (!mine || !checked.signers.includes(mine.idx)) fail('bad_signer', 'the requesting device must have signed the transaction itself', 403);
      await this.c.checkLimits(row, checked.call);
      const id = newId();
      const expires = this.c.now() + JOIN_TTL_SECONDS;
      const rest = toRestTransaction(checked.tx);
      const amount = checked.call.kind === 'transfer' ? ufix64ToUnits(checked.call.amount).toString() : '0';
      await this.c.db.run("INSERT INTO sign_requests (id, address, requester, tx, created_at, expires_at, status, result_id, amount_units) VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, ?)", id, row.address, caller.device, JSON.stringify(rest), this.c.now(), expires, amount);
      await this.c.audit({ account: row.address, action: 'sign-request', decision: 'info', detail: { request: id, kind: checked.call.kind, signers: checked.signers } });
      await this.c.notify(row.address, { type: 'custody-sign', request_id: id, account: row.address, transaction: rest, device_name: mine.device_name ?? 'a device', expires_at: expires, server_url: this.c.opts.publicUrl() }, caller.device);
      return { request_id: id, expires_at: expires };
    });
  }

  async #signRequest(id: unknown): Promise<SignRequestRow> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad request id');
    const r = await this.c.db.get('SELECT * FROM sign_requests WHERE id = ?', id) as SignRequestRow | undefined;
    if (!r) fail('unknown_request', 'no such signature request', 404);
    if (r.status === 'pending' && r.expires_at <= this.c.now()) {
      await this.c.db.run("UPDATE sign_requests SET status = 'expired' WHERE id = ?", r.id);
      r.status = 'expired';
    }
    return r;
  }

  async signRequestStatus(caller: Caller, id: unknown): Promise<{ status: SignRequestRow['status']; expires_at: number; id?: string; transaction?: RestTransaction }> {
    const r = await this.#signRequest(id);
    if (r.requester !== caller.device) fail('wrong_device', 'this request belongs to another device', 403);
    return { status: r.status, expires_at: r.expires_at, ...(r.result_id ? { id: r.result_id, transaction: JSON.parse(r.tx) as RestTransaction } : {}) };
  }

  /** Another device of the account adds its envelope signature; the ledger then applies it. */
  async signRequestApprove(caller: Caller, id: unknown, body: { key_index: unknown; signature: unknown }): Promise<SentView> {
    const row = await this.c.forAccount(caller, (await this.#signRequest(id)).address);
    return this.c.decideLocked(row.address, 'sign-approve', { request: id, device: caller.device }, async () => {
      const r = await this.#signRequest(id);
      if (r.status !== 'pending') fail(r.status === 'expired' ? 'request_expired' : 'request_closed', `the request is ${r.status}`, 409);
      if (typeof body.key_index !== 'number' || typeof body.signature !== 'string' || !/^[0-9a-f]{128}$/.test(body.signature)) fail('bad_signature', 'key_index (number) and signature (128 hex digits) are needed');
      const k = await this.c.db.get("SELECT public_key FROM custody_keys WHERE address = ? AND idx = ? AND role = 'device' AND revoked = 0", row.address, body.key_index) as { public_key: string } | undefined;
      if (!k || k.public_key !== caller.device) fail('bad_signer', 'sign with this device\'s own active key', 403);
      const tx = normalizeTransaction(fromRestTransaction(JSON.parse(r.tx)));
      if (tx.envelopeSignatures.some((x) => x.keyIndex === body.key_index)) fail('bad_signer', 'this key already signed the request', 409);
      if (!nodeEcdsa.verify(envelopeMessage(tx), hexToBytes(body.signature), k.public_key, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) fail('invalid_signature', 'the signature does not verify over the requested transaction', 403);
      const signed = normalizeTransaction({ ...tx, envelopeSignatures: [...tx.envelopeSignatures, { address: row.address, keyIndex: body.key_index, signature: body.signature }] });
      const call = parseTemplateCall(this.c.opts.ledger.network, tx.script, tx.arguments);
      if (call.kind === 'add-key') assertNewKey((await this.c.opts.ledger.getAccount(row.address)).keys, call.key.publicKey);
      const sent = await this.c.reserveAndSend(row.address, createHash('sha256').update(envelopeMessage(tx)).digest('hex'), call, signed);
      await this.c.db.run("UPDATE sign_requests SET status = 'completed', result_id = ?, tx = ? WHERE id = ?", sent.id, JSON.stringify(toRestTransaction(signed)), r.id);
      if (call.kind === 'revoke-key') await this.c.markRevoked(row, call.keyIndex, caller.device);
      if (call.kind === 'add-key') await this.c.recordKey(row.address, sent.events, 'device', call.key.publicKey, null);
      // A link or unlink (after self-custody) is audited under its own name, with its parent (issue 13).
      const link = call.kind === 'link' || call.kind === 'unlink' ? { action: call.kind, parent: call.parent } : undefined;
      await this.c.audit({ account: row.address, action: link?.action ?? 'two-device', decision: 'accepted', detail: { request: r.id, tx: sent.id, kind: call.kind, ...(link ? { parent: link.parent } : {}) } });
      return { id: sent.id, transaction: toRestTransaction(signed), status: sent.status };
    });
  }

  async signRequestDeny(caller: Caller, id: unknown): Promise<{ status: 'denied' }> {
    const row = await this.c.forAccount(caller, (await this.#signRequest(id)).address);
    return this.c.locks.run(row.address, async () => {
      const r = await this.#signRequest(id);
      if (r.status !== 'pending') fail('request_closed', `the request is ${r.status}`, 409);
      await this.c.db.run("UPDATE sign_requests SET status = 'denied' WHERE id = ?", r.id);
      await this.c.audit({ account: row.address, action: 'sign-deny', decision: 'refused', detail: { request: r.id, by: caller.device } });
      return { status: 'denied' as const };
    });
  }
}
