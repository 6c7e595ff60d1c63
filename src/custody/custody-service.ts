/**
 * The custody part of `latch server`: accounts whose keys are a device key, a server key and a
 * recovery key of weight 500 each (any two of three reach Flow's 1000), and the server's
 * decision to co-sign. docs/CUSTODY.md describes the flows; this file is the policy:
 *
 * The server signs only when (issue 4, "Co-signing policy"):
 *   1. the caller holds a valid access token for that very account;
 *   2. the transaction already carries a valid envelope signature, over the exact message the
 *      server will sign, by a non-revoked key of the account that is not the server's own
 *      (checked here against the ledger's key list, not trusted from the client);
 *   3. the same message was never co-signed before (replay);
 *   4. the account's per-transaction maximum and daily limit allow the amount.
 * Every decision, signed or refused, is appended to the hash-chained audit log.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { boxMessageRandom } from '../protocol/envelope.js';
import type { Sodium } from '../protocol/sodium.js';
import type { Ledger } from '../ledger/ledger.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256, parsePublicKey, type FlowAccountKey } from '../ledger/flow/flow-account-key.js';
import { parseTemplateCall, type TemplateCall } from '../ledger/flow/cadence-templates.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, signTransactionEnvelope } from '../ledger/flow/flow-signer.js';
import { nodeEcdsa } from '../ledger/flow/flow-ecdsa-node.js';
import { envelopeMessage, normalizeTransaction, parseFlowAddress, type FlowTransaction } from '../ledger/flow/flow-transaction.js';
import { fromRestTransaction, toRestAccountKey, toRestTransaction, type RestAccountKey, type RestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { parseAmount, ufix64ToUnits, unitsToUFix64 } from '../ledger/flow/json-cadence.js';
import { appendAudit, migrateAudit, verifyAuditChain, type AuditEntry } from './audit-log.js';
import { DevIssuer, migrateDevIssuer, type Mailer } from './dev-issuer.js';
import { TokenService, migrateTokens, type Caller, type OidcIssuerConfig } from './token-service.js';
import type { KeyVault } from './master-key.js';
import { InboxRegistry, migrateInboxes } from './inbox-registry.js';
import { NoticeSender, type LocalDelivery } from './notice-sender.js';
import { RelayAllowList } from './relay-allow-list.js';
import { nameClash } from './device-name-clash.js';
import { CUSTODY_KEY_WEIGHT, JOIN_TTL_SECONDS, loginMessage, type DeviceNotice, type KeyRole, type TokenPair } from './custody-api.js';

export interface CustodyOptions {
  dataDir: string;
  ledger: Ledger;
  vault: KeyVault;
  sodium: Sodium;
  mailer: Mailer;
  log: (line: string) => void;
  /** Public URL of this server, put in notices so devices know where to answer. */
  publicUrl: () => string;
  recoveryDelaySeconds: number;
  /** UFix64 text; defaults 1000 / 10000 FLOW. */
  maxPerTransaction?: string;
  dailyLimit?: string;
  /** Only the embedded ledger gives new accounts a balance. */
  startingBalance?: string;
  accessTtlSeconds?: number;
  oidcIssuers?: OidcIssuerConfig[];
  /** Remote relays notices may go to besides our own (`--inbox-relay`); relay-allow-list.ts. */
  inboxRelays?: string[];
  /** Our own relay, in-process; without it only allowed remote relays receive notices. */
  deliverLocal?: LocalDelivery;
  now?: () => number;
}

export interface AccountView {
  address: string;
  balance: string;
  keys: (RestAccountKey & { role: KeyRole | 'unknown'; device_name?: string })[];
  reference_block_id: string;
  server_box_public_key: string;
  self_custody: boolean;
  ledger: Ledger['kind'];
}

export interface SentView {
  id: string;
  transaction: RestTransaction;
  status: string;
}

interface Checked {
  tx: FlowTransaction;
  call: TemplateCall;
  digest: string;
  signers: number[];
}

interface AccountRow {
  address: string;
  owner: string;
  server_key_index: number;
  server_key: string;
  server_public_key: string;
  self_custody: number;
}

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

interface SignRequestRow {
  id: string;
  address: string;
  requester: string;
  tx: string;
  expires_at: number;
  status: 'pending' | 'completed' | 'denied' | 'expired';
  result_id: string | null;
}

interface RecoveryRow {
  id: string;
  address: string;
  email: string;
  device_public_key: string;
  device_name: string;
  ready_at: number;
  status: 'pending' | 'completed' | 'cancelled';
  key_index: number | null;
}

function fail(code: string, message: string, status = 400): never {
  throw new LatchError(code, message, { status });
}

const newId = (): string => encodeBase64url(randomBytes(16));

export class CustodyService {
  readonly db: Database.Database;
  readonly tokens: TokenService;
  readonly issuer: DevIssuer;
  readonly #serverKeys = new Map<string, Uint8Array>();
  #boxSecret!: Uint8Array;
  #boxPublic!: Uint8Array;
  readonly #now: () => number;
  readonly #maxPerTx: bigint;
  readonly #daily: bigint;
  readonly #inboxes: InboxRegistry;
  readonly notices: NoticeSender;

  private constructor(private readonly opts: CustodyOptions, db: Database.Database, jwtSecret: Uint8Array) {
    this.db = db;
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.tokens = new TokenService(db, jwtSecret, opts.accessTtlSeconds ?? 600, opts.oidcIssuers ?? [], {
      isLiveKey: (account, device) => this.db.prepare("SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0").get(account, device) !== undefined,
      onReuse: (c) => this.audit({ account: c.account ?? null, action: 'token-reuse', decision: 'refused', detail: { email: c.email, device: c.device, family: c.family } }),
    });
    this.issuer = new DevIssuer(db, opts.mailer);
    this.#maxPerTx = ufix64ToUnits(parseAmount(opts.maxPerTransaction ?? '1000.0'));
    this.#daily = ufix64ToUnits(parseAmount(opts.dailyLimit ?? '10000.0'));
    const relays = new RelayAllowList(opts.inboxRelays ?? [], opts.publicUrl);
    this.#inboxes = new InboxRegistry(db, relays, this.#now);
    this.notices = new NoticeSender(relays, opts.deliverLocal, opts.log);
  }

  static async open(opts: CustodyOptions): Promise<CustodyService> {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const db = openCustodyDb(join(opts.dataDir, 'custody.sqlite'));
    const meta = (k: string): string | undefined => (db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
    const setMeta = (k: string, v: string): void => void db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run(k, v);
    if (meta('jwt_secret') === undefined) {
      const box = opts.sodium.crypto_box_keypair();
      setMeta('jwt_secret', await opts.vault.wrap(opts.sodium.randombytes_buf(32), 'jwt-secret'));
      setMeta('box_secret', await opts.vault.wrap(box.privateKey, 'box-secret'));
      setMeta('box_public', encodeBase64url(box.publicKey));
    }
    const svc = new CustodyService(opts, db, await opts.vault.unwrap(meta('jwt_secret')!, 'jwt-secret'));
    svc.#boxSecret = await opts.vault.unwrap(meta('box_secret')!, 'box-secret');
    svc.#boxPublic = decodeBase64url(meta('box_public')!);
    return svc;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  audit(e: AuditEntry): void {
    appendAudit(this.db, e);
  }

  /** Runs `fn`; on a refusal, appends it to the audit log and rethrows. */
  async #decide<T>(account: string | null, action: string, detail: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof LatchError) this.audit({ account, action, decision: 'refused', detail: { ...detail, code: e.code, reason: e.message } });
      throw e;
    }
  }

  // ---- login ----

  async loginStart(email: unknown): Promise<{ challenge: string }> {
    return { challenge: bytesToHex(await this.issuer.start(email)) };
  }

  async loginComplete(body: { email: unknown; code: unknown; device_public_key: unknown; signature: unknown }): Promise<TokenPair> {
    const device = parseDeviceKey(body.device_public_key);
    const { email, challenge } = this.issuer.finish(body.email, body.code);
    checkLoginSignature(challenge, body.signature, device);
    this.audit({ account: null, action: 'login', decision: 'accepted', detail: { email, device, issuer: 'dev' } });
    return this.tokens.issue({ email, device, ...this.#accountOfDevice(email, device) });
  }

  /** OIDC: the device signs sha256(id_token) under the login tag, binding the token to it. */
  async loginOidc(body: { id_token: unknown; device_public_key: unknown; signature: unknown }): Promise<TokenPair> {
    if (typeof body.id_token !== 'string' || body.id_token.length > 8192) fail('bad_id_token', 'id_token must be a JWT string');
    const device = parseDeviceKey(body.device_public_key);
    const email = await this.tokens.verifyIdToken(body.id_token);
    checkLoginSignature(createHash('sha256').update(body.id_token).digest(), body.signature, device);
    this.audit({ account: null, action: 'login', decision: 'accepted', detail: { email, device, issuer: 'oidc' } });
    return this.tokens.issue({ email, device, ...this.#accountOfDevice(email, device) });
  }

  #accountOfDevice(email: string, device: string): { account?: string } {
    const row = this.db
      .prepare("SELECT k.address FROM custody_keys k JOIN accounts a ON a.address = k.address WHERE a.owner = ? AND k.public_key = ? AND k.role = 'device' AND k.revoked = 0 LIMIT 1")
      .get(email, device) as { address: string } | undefined;
    return row ? { account: row.address } : {};
  }

  // ---- accounts ----

  async createAccount(caller: Caller, body: { device_name: unknown; recovery_public_key?: unknown; inbox?: unknown }, requestHost?: string): Promise<{ address: string } & TokenPair> {
    const name = parseName(body.device_name);
    const recovery = body.recovery_public_key === undefined || body.recovery_public_key === null ? undefined : parseDeviceKey(body.recovery_public_key, 'recovery_public_key');
    const inbox = body.inbox === undefined ? undefined : this.#inboxes.check(body.inbox, { account: null, device: caller.device, requestHost });
    if (recovery === caller.device) fail('bad_key', 'the recovery key must differ from the device key');
    return this.#decide(null, 'create-account', { email: caller.email, device: caller.device }, async () => {
      const serverSecret = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
      const serverPublic = flowPublicKeyFromPrivate(serverSecret, SIGN_ALGO_ECDSA_P256);
      const key = (publicKey: string) => ({ publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT }) as const;
      const keys = [key(caller.device), key(serverPublic), ...(recovery ? [key(recovery)] : [])];
      const balance = this.opts.ledger.kind === 'embedded' ? (this.opts.startingBalance ?? '1000.00000000') : '0.00000000';
      const address = await this.opts.ledger.createAccount(keys, balance);
      const wrapped = await this.opts.vault.wrap(serverSecret, `server-key:${address}`);
      const tx = this.db.transaction(() => {
        this.db.prepare('INSERT INTO accounts (address, owner, server_key_index, server_key, server_public_key, self_custody, created_at) VALUES (?, ?, 1, ?, ?, 0, ?)').run(address, caller.email, wrapped, serverPublic, this.#now());
        const ins = this.db.prepare('INSERT INTO custody_keys (address, idx, role, public_key, device_name, revoked) VALUES (?, ?, ?, ?, ?, 0)');
        ins.run(address, 0, 'device', caller.device, name);
        ins.run(address, 1, 'server', serverPublic, null);
        if (recovery) ins.run(address, 2, 'recovery', recovery, null);
        if (inbox) this.#inboxes.save(address, caller.device, inbox);
        this.audit({ account: address, action: 'create-account', decision: 'accepted', detail: { email: caller.email, device: caller.device, recovery: recovery !== undefined } });
      });
      tx.immediate();
      this.#serverKeys.set(address, serverSecret);
      return { address, ...(await this.tokens.issue({ email: caller.email, device: caller.device, account: address })) };
    });
  }

  #account(address: string): AccountRow {
    const row = this.db.prepare('SELECT * FROM accounts WHERE address = ?').get(address) as AccountRow | undefined;
    if (!row) fail('unknown_account', `this server holds no key of account ${address}`, 404);
    return row;
  }

  /** The caller must hold a token for exactly this account (policy rule 1). */
  #forAccount(caller: Caller, addressText: unknown): AccountRow {
    if (typeof addressText !== 'string') fail('bad_address', 'address must be a string');
    const address = parseFlowAddress(addressText);
    if (caller.account !== address) {
      this.audit({ account: address, action: 'authorize', decision: 'refused', detail: { code: 'wrong_account', email: caller.email, device: caller.device, token_account: caller.account ?? null } });
      fail('wrong_account', `the access token is not for account ${address}`, 403);
    }
    return this.#account(address);
  }

  /** Read-only: a token for the account, or any login of its owner (a recovering device needs it). */
  async getAccount(caller: Caller, address: unknown): Promise<AccountView> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = this.#account(parseFlowAddress(address));
    if (caller.account !== row.address && caller.email !== row.owner) fail('wrong_account', `the access token is not for account ${row.address}`, 403);
    return this.#view(row);
  }

  async #view(row: AccountRow): Promise<AccountView> {
    const acct = await this.opts.ledger.getAccount(row.address);
    const roles = this.db.prepare('SELECT idx, role, device_name FROM custody_keys WHERE address = ?').all(row.address) as { idx: number; role: KeyRole; device_name: string | null }[];
    return {
      address: acct.address,
      balance: acct.balance,
      keys: acct.keys.map((k) => {
        const r = roles.find((x) => x.idx === k.index);
        return { ...toRestAccountKey(k), role: r?.role ?? 'unknown', ...(r?.device_name ? { device_name: r.device_name } : {}) };
      }),
      reference_block_id: await this.opts.ledger.latestBlockId(),
      server_box_public_key: encodeBase64url(this.#boxPublic),
      self_custody: row.self_custody === 1,
      ledger: this.opts.ledger.kind,
    };
  }

  /** Signed by the device key it speaks for (inbox-registry.ts); a token alone is not enough. */
  async registerInbox(caller: Caller, address: unknown, body: unknown, requestHost?: string): Promise<{ ok: true }> {
    const row = this.#forAccount(caller, address);
    return this.#decide(row.address, 'register-inbox', { device: caller.device }, async () => {
      this.#inboxes.save(row.address, caller.device, this.#inboxes.check(body, { account: row.address, device: caller.device, requestHost }));
      return { ok: true as const };
    });
  }

  // ---- co-signing ----

  async #serverKey(row: AccountRow): Promise<Uint8Array> {
    let k = this.#serverKeys.get(row.address);
    if (!k) this.#serverKeys.set(row.address, (k = await this.opts.vault.unwrap(row.server_key, `server-key:${row.address}`)));
    return k;
  }

  /**
   * Policy rules 2 and 3 plus shape: a self-paying template transaction of this account,
   * carrying a valid envelope signature of a live non-server key; returns what it does.
   */
  async #check(row: AccountRow, txJson: unknown, keys: FlowAccountKey[], allowedSigners: KeyRole[]): Promise<Checked> {
    let tx: FlowTransaction;
    try {
      tx = normalizeTransaction(fromRestTransaction(txJson));
    } catch (e) {
      if (e instanceof LatchError) fail('bad_transaction', `transaction: ${e.message}`);
      throw e;
    }
    const a = row.address;
    if (tx.payer !== a || tx.proposalKey.address !== a || tx.authorizers.length !== 1 || tx.authorizers[0] !== a) {
      fail('bad_transaction', `the account ${a} must be proposer, payer and only authorizer`);
    }
    const call = parseTemplateCall(this.opts.ledger.network, tx.script, tx.arguments);
    if (tx.payloadSignatures.length > 0) fail('bad_transaction', 'a self-paying transaction carries envelope signatures only');
    const roles = this.db.prepare('SELECT idx, role FROM custody_keys WHERE address = ?').all(a) as { idx: number; role: KeyRole }[];
    const message = envelopeMessage(tx);
    const signers: number[] = [];
    for (const s of tx.envelopeSignatures) {
      const k = keys.find((x) => x.index === s.keyIndex);
      if (!k) fail('unknown_key', `account ${a} has no key ${s.keyIndex}`);
      if (k.revoked) fail('revoked_key', `key ${s.keyIndex} is revoked and cannot sign`, 403);
      if (s.keyIndex === row.server_key_index) fail('bad_signature', 'the transaction already carries the server\'s signature', 403);
      if (!nodeEcdsa.verify(message, hexToBytes(s.signature), k.publicKey, k.signAlgo, k.hashAlgo)) {
        fail('invalid_signature', `the signature by key ${s.keyIndex} does not verify over this transaction (altered after signing?)`, 403);
      }
      const role = roles.find((r) => r.idx === s.keyIndex)?.role;
      if (!role || !allowedSigners.includes(role)) fail('bad_signer', `key ${s.keyIndex} (${role ?? 'unknown role'}) may not ask for this co-signature`, 403);
      signers.push(s.keyIndex);
    }
    if (signers.length === 0) fail('missing_signature', 'a user key must sign the transaction before the server co-signs', 403);
    const digest = createHash('sha256').update(message).digest('hex');
    if (this.db.prepare('SELECT 1 FROM cosigns WHERE digest = ?').get(digest)) fail('replay', 'this exact transaction was already co-signed', 409);
    return { tx, call, digest, signers };
  }

  /** Signs with the server key, submits, records. */
  async #cosignAndSend(row: AccountRow, checked: { tx: FlowTransaction; call: TemplateCall; digest: string; signers: number[] }, action: string): Promise<SentView & { events: { type: string; values: Record<string, string> }[] }> {
    const keys = (await this.opts.ledger.getAccount(row.address)).keys;
    const server = keys.find((k) => k.index === row.server_key_index);
    if (!server || server.revoked || row.self_custody === 1) fail('server_key_revoked', 'the server key of this account is revoked (self-custody): sign with two user keys', 403);
    const signed = signTransactionEnvelope(checked.tx, {
      address: row.address,
      keyIndex: row.server_key_index,
      privateKey: await this.#serverKey(row),
      signAlgo: server.signAlgo,
      hashAlgo: server.hashAlgo,
    }, nodeEcdsa);
    const sent = await this.opts.ledger.sendTransaction(signed);
    const amount = checked.call.kind === 'transfer' ? ufix64ToUnits(checked.call.amount).toString() : '0';
    this.db.prepare('INSERT INTO cosigns (digest, address, tx_id, kind, amount_units, day, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(checked.digest, row.address, sent.id, checked.call.kind, amount, dayOf(this.#now()), this.#now());
    this.audit({ account: row.address, action, decision: 'signed', detail: { tx: sent.id, kind: checked.call.kind, signers: checked.signers, ...(checked.call.kind === 'transfer' ? { amount: checked.call.amount, to: checked.call.to } : {}) } });
    return { id: sent.id, transaction: toRestTransaction(signed), status: sent.status, events: sent.events };
  }

  /** Policy rule 4. */
  #checkLimits(row: AccountRow, call: TemplateCall): void {
    if (call.kind !== 'transfer') return;
    const amount = ufix64ToUnits(call.amount);
    if (amount > this.#maxPerTx) fail('over_limit', `${call.amount} is more than the ${unitsToUFix64(this.#maxPerTx)} FLOW allowed per transaction`, 403);
    const spent = (this.db.prepare("SELECT amount_units FROM cosigns WHERE address = ? AND day = ? AND kind = 'transfer'").all(row.address, dayOf(this.#now())) as { amount_units: string }[]).reduce((s, r) => s + BigInt(r.amount_units), 0n);
    if (spent + amount > this.#daily) fail('over_limit', `this would bring today's total to ${unitsToUFix64(spent + amount)} FLOW, over the daily limit of ${unitsToUFix64(this.#daily)}`, 403);
  }

  /** Co-sign a transfer or key revocation (and adding a recovery key when the account has none). */
  async cosign(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<SentView> {
    const row = this.#forAccount(caller, address);
    return this.#decide(row.address, 'cosign', { device: caller.device }, async () => {
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['device', 'recovery']);
      const call = checked.call;
      if (call.kind === 'add-key') {
        const hasRecovery = this.db.prepare("SELECT 1 FROM custody_keys WHERE address = ? AND role = 'recovery' AND revoked = 0").get(row.address);
        if (hasRecovery) fail('use_join', 'new device keys are added through `latch account join` (2FA) or recovery, not a plain co-sign', 403);
        if (call.key.weight !== CUSTODY_KEY_WEIGHT || call.key.signAlgo !== SIGN_ALGO_ECDSA_P256 || call.key.hashAlgo !== HASH_ALGO_SHA2_256) fail('bad_key', 'a recovery key is P-256/SHA2-256 with weight 500');
      }
      if (call.kind === 'revoke-key' && !keys.some((k) => k.index === call.keyIndex)) fail('unknown_key', `account ${row.address} has no key ${call.keyIndex}`);
      this.#checkLimits(row, call);
      const out = await this.#cosignAndSend(row, checked, 'cosign');
      if (call.kind === 'add-key') this.#recordKey(row.address, out.events, 'recovery', call.key.publicKey, null);
      if (call.kind === 'revoke-key') this.#markRevoked(row, call.keyIndex);
      return { id: out.id, transaction: out.transaction, status: out.status };
    });
  }

  /** After self-custody: forward a transaction the user signed with two keys; the server adds nothing. */
  async submit(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<SentView> {
    const row = this.#forAccount(caller, address);
    return this.#decide(row.address, 'submit', { device: caller.device }, async () => {
      let tx: FlowTransaction;
      try {
        tx = normalizeTransaction(fromRestTransaction(body.transaction));
      } catch (e) {
        if (e instanceof LatchError) fail('bad_transaction', `transaction: ${e.message}`);
        throw e;
      }
      if (tx.payer !== row.address) fail('bad_transaction', `the payer must be ${row.address}`);
      const call = parseTemplateCall(this.opts.ledger.network, tx.script, tx.arguments);
      const sent = await this.opts.ledger.sendTransaction(tx);
      if (call.kind === 'revoke-key') this.#markRevoked(row, call.keyIndex);
      if (call.kind === 'add-key') this.#recordKey(row.address, sent.events, 'device', call.key.publicKey, null);
      this.audit({ account: row.address, action: 'submit', decision: 'accepted', detail: { tx: sent.id, kind: call.kind } });
      return { id: sent.id, transaction: toRestTransaction(tx), status: sent.status };
    });
  }

  #recordKey(address: string, events: { type: string; values: Record<string, string> }[], role: KeyRole, publicKey: string, name: string | null): number {
    const ev = events.find((e) => e.type === 'flow.AccountKeyAdded');
    const idx = Number(ev?.values.keyIndex);
    if (!Number.isInteger(idx)) fail('ledger', 'the ledger did not report the new key index', 502);
    this.db.prepare('INSERT OR REPLACE INTO custody_keys (address, idx, role, public_key, device_name, revoked) VALUES (?, ?, ?, ?, ?, 0)').run(address, idx, role, publicKey, name);
    return idx;
  }

  #markRevoked(row: AccountRow, idx: number): void {
    this.db.prepare('UPDATE custody_keys SET revoked = 1 WHERE address = ? AND idx = ?').run(row.address, idx);
    const k = this.db.prepare('SELECT public_key, role FROM custody_keys WHERE address = ? AND idx = ?').get(row.address, idx) as { public_key: string; role: KeyRole } | undefined;
    if (k?.role === 'device') {
      this.tokens.revokeDevice(k.public_key);
      this.db.prepare('DELETE FROM inboxes WHERE address = ? AND device = ?').run(row.address, k.public_key);
    }
    if (idx === row.server_key_index) {
      this.db.prepare('UPDATE accounts SET self_custody = 1 WHERE address = ?').run(row.address);
      this.#serverKeys.delete(row.address);
      this.audit({ account: row.address, action: 'self-custody', decision: 'info', detail: { serverKeyIndex: idx } });
    }
  }

  // ---- joining a device (2FA) ----

  async joinStart(caller: Caller, address: unknown, body: { device_name: unknown }, origin: string): Promise<{ join_id: string; expires_at: number }> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = this.#account(parseFlowAddress(address));
    const name = parseName(body.device_name);
    if (row.owner !== caller.email) fail('wrong_account', 'log in with the email that owns this account to join it', 403);
    if (this.db.prepare('SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND revoked = 0').get(row.address, caller.device)) fail('already_member', 'this device is already a key of the account', 409);
    const id = newId();
    const now = this.#now();
    const expires = now + JOIN_TTL_SECONDS;
    const clash = nameClash(name, (this.db.prepare("SELECT device_name FROM custody_keys WHERE address = ? AND role = 'device' AND revoked = 0 AND device_name IS NOT NULL").all(row.address) as { device_name: string }[]).map((k) => k.device_name));
    this.db.prepare("INSERT INTO joins (id, address, email, device_public_key, device_name, origin, created_at, expires_at, status, key_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL)").run(id, row.address, caller.email, caller.device, name, origin, now, expires);
    this.audit({ account: row.address, action: 'join-request', decision: 'info', detail: { join: id, device: caller.device, name, origin, ...(clash ? { name_clash: clash } : {}) } });
    await this.#notify(row.address, { type: 'custody-join', join_id: id, account: row.address, device_name: name, device_public_key: caller.device, origin, requested_at: now, ...(clash ? { name_clash: clash } : {}), expires_at: expires, server_url: this.opts.publicUrl() });
    return { join_id: id, expires_at: expires };
  }

  #join(id: unknown): JoinRow {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad join id');
    const j = this.db.prepare('SELECT * FROM joins WHERE id = ?').get(id) as JoinRow | undefined;
    if (!j) fail('unknown_join', 'no such join request', 404);
    if (j.status === 'pending' && j.expires_at <= this.#now()) {
      this.db.prepare("UPDATE joins SET status = 'expired' WHERE id = ?").run(j.id);
      j.status = 'expired';
    }
    return j;
  }

  /** The joining device polls; once approved it gets tokens bound to the account. */
  async joinStatus(caller: Caller, id: unknown): Promise<{ status: JoinRow['status']; expires_at: number; key_index?: number } & Partial<TokenPair>> {
    const j = this.#join(id);
    if (j.device_public_key !== caller.device || j.email !== caller.email) fail('wrong_device', 'this join request belongs to another device', 403);
    const base = { status: j.status, expires_at: j.expires_at };
    if (j.status !== 'approved') return base;
    return { ...base, key_index: j.key_index!, ...(await this.tokens.issue({ email: j.email, device: j.device_public_key, account: j.address })) };
  }

  /** Existing device approves: it built and signed the add-key transaction itself. */
  async joinApprove(caller: Caller, id: unknown, body: { transaction: unknown }): Promise<SentView & { key_index: number }> {
    const j = this.#join(id);
    const row = this.#forAccount(caller, j.address);
    return this.#decide(row.address, 'join-approve', { join: j.id, device: caller.device }, async () => {
      if (j.status !== 'pending') fail(j.status === 'expired' ? 'join_expired' : 'join_closed', `the join request is ${j.status}`, 409);
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['device']);
      const c = checked.call;
      if (c.kind !== 'add-key' || c.key.publicKey !== j.device_public_key || c.key.weight !== CUSTODY_KEY_WEIGHT || c.key.signAlgo !== SIGN_ALGO_ECDSA_P256 || c.key.hashAlgo !== HASH_ALGO_SHA2_256) {
        fail('bad_transaction', 'the approval must add exactly the joining device\'s key (P-256/SHA2-256, weight 500)');
      }
      const out = await this.#cosignAndSend(row, checked, 'join-approve');
      const idx = this.#recordKey(row.address, out.events, 'device', j.device_public_key, j.device_name);
      this.db.prepare("UPDATE joins SET status = 'approved', key_index = ? WHERE id = ?").run(idx, j.id);
      return { id: out.id, transaction: out.transaction, status: out.status, key_index: idx };
    });
  }

  async joinDeny(caller: Caller, id: unknown): Promise<{ status: 'denied' }> {
    const j = this.#join(id);
    const row = this.#forAccount(caller, j.address);
    if (j.status !== 'pending') fail('join_closed', `the join request is ${j.status}`, 409);
    this.db.prepare("UPDATE joins SET status = 'denied' WHERE id = ?").run(j.id);
    this.audit({ account: row.address, action: 'join-deny', decision: 'refused', detail: { join: j.id, by: caller.device } });
    return { status: 'denied' };
  }

  // ---- two devices sign (no server key; e.g. after self-custody) ----

  /** A device signed; the other devices are asked (through the relay) to add their signature. */
  async signRequestStart(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<{ request_id: string; expires_at: number }> {
    const row = this.#forAccount(caller, address);
    return this.#decide(row.address, 'sign-request', { device: caller.device }, async () => {
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['device']);
      const mine = this.db.prepare("SELECT idx, device_name FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0").get(row.address, caller.device) as { idx: number; device_name: string | null } | undefined;
      if (!mine || !checked.signers.includes(mine.idx)) fail('bad_signer', 'the requesting device must have signed the transaction itself', 403);
      this.#checkLimits(row, checked.call);
      const id = newId();
      const expires = this.#now() + JOIN_TTL_SECONDS;
      const rest = toRestTransaction(checked.tx);
      this.db.prepare("INSERT INTO sign_requests (id, address, requester, tx, created_at, expires_at, status, result_id) VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL)").run(id, row.address, caller.device, JSON.stringify(rest), this.#now(), expires);
      this.audit({ account: row.address, action: 'sign-request', decision: 'info', detail: { request: id, kind: checked.call.kind, signers: checked.signers } });
      await this.#notify(row.address, { type: 'custody-sign', request_id: id, account: row.address, transaction: rest, device_name: mine.device_name ?? 'a device', expires_at: expires, server_url: this.opts.publicUrl() }, caller.device);
      return { request_id: id, expires_at: expires };
    });
  }

  #signRequest(id: unknown): SignRequestRow {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad request id');
    const r = this.db.prepare('SELECT * FROM sign_requests WHERE id = ?').get(id) as SignRequestRow | undefined;
    if (!r) fail('unknown_request', 'no such signature request', 404);
    if (r.status === 'pending' && r.expires_at <= this.#now()) {
      this.db.prepare("UPDATE sign_requests SET status = 'expired' WHERE id = ?").run(r.id);
      r.status = 'expired';
    }
    return r;
  }

  async signRequestStatus(caller: Caller, id: unknown): Promise<{ status: SignRequestRow['status']; expires_at: number; id?: string; transaction?: RestTransaction }> {
    const r = this.#signRequest(id);
    if (r.requester !== caller.device) fail('wrong_device', 'this request belongs to another device', 403);
    return { status: r.status, expires_at: r.expires_at, ...(r.result_id ? { id: r.result_id, transaction: JSON.parse(r.tx) as RestTransaction } : {}) };
  }

  /** Another device of the account adds its envelope signature; the ledger then applies it. */
  async signRequestApprove(caller: Caller, id: unknown, body: { key_index: unknown; signature: unknown }): Promise<SentView> {
    const r = this.#signRequest(id);
    const row = this.#forAccount(caller, r.address);
    return this.#decide(row.address, 'sign-approve', { request: r.id, device: caller.device }, async () => {
      if (r.status !== 'pending') fail(r.status === 'expired' ? 'request_expired' : 'request_closed', `the request is ${r.status}`, 409);
      if (typeof body.key_index !== 'number' || typeof body.signature !== 'string' || !/^[0-9a-f]{128}$/.test(body.signature)) fail('bad_signature', 'key_index (number) and signature (128 hex digits) are needed');
      const k = this.db.prepare("SELECT public_key FROM custody_keys WHERE address = ? AND idx = ? AND role = 'device' AND revoked = 0").get(row.address, body.key_index) as { public_key: string } | undefined;
      if (!k || k.public_key !== caller.device) fail('bad_signer', 'sign with this device\'s own active key', 403);
      const tx = normalizeTransaction(fromRestTransaction(JSON.parse(r.tx)));
      if (tx.envelopeSignatures.some((x) => x.keyIndex === body.key_index)) fail('bad_signer', 'this key already signed the request', 409);
      if (!nodeEcdsa.verify(envelopeMessage(tx), hexToBytes(body.signature), k.public_key, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) fail('invalid_signature', 'the signature does not verify over the requested transaction', 403);
      const signed = normalizeTransaction({ ...tx, envelopeSignatures: [...tx.envelopeSignatures, { address: row.address, keyIndex: body.key_index, signature: body.signature }] });
      const call = parseTemplateCall(this.opts.ledger.network, tx.script, tx.arguments);
      const sent = await this.opts.ledger.sendTransaction(signed);
      const amount = call.kind === 'transfer' ? ufix64ToUnits(call.amount).toString() : '0';
      this.db.prepare('INSERT INTO cosigns (digest, address, tx_id, kind, amount_units, day, at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(createHash('sha256').update(envelopeMessage(tx)).digest('hex'), row.address, sent.id, call.kind, amount, dayOf(this.#now()), this.#now());
      this.db.prepare("UPDATE sign_requests SET status = 'completed', result_id = ?, tx = ? WHERE id = ?").run(sent.id, JSON.stringify(toRestTransaction(signed)), r.id);
      if (call.kind === 'revoke-key') this.#markRevoked(row, call.keyIndex);
      this.audit({ account: row.address, action: 'two-device', decision: 'accepted', detail: { request: r.id, tx: sent.id, kind: call.kind } });
      return { id: sent.id, transaction: toRestTransaction(signed), status: sent.status };
    });
  }

  async signRequestDeny(caller: Caller, id: unknown): Promise<{ status: 'denied' }> {
    const r = this.#signRequest(id);
    const row = this.#forAccount(caller, r.address);
    if (r.status !== 'pending') fail('request_closed', `the request is ${r.status}`, 409);
    this.db.prepare("UPDATE sign_requests SET status = 'denied' WHERE id = ?").run(r.id);
    this.audit({ account: row.address, action: 'sign-deny', decision: 'refused', detail: { request: r.id, by: caller.device } });
    return { status: 'denied' };
  }

  // ---- recovery ----

  /** Starts (and with delay 0 completes) recovery: the recovery key signed an add-key for this device. */
  async recoverStart(caller: Caller, address: unknown, body: { transaction: unknown; device_name: unknown }): Promise<RecoveryView> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = this.#account(parseFlowAddress(address));
    const name = parseName(body.device_name);
    return this.#decide(row.address, 'recover-start', { device: caller.device }, async () => {
      if (row.owner !== caller.email) fail('wrong_account', 'log in with the email that owns this account to recover it', 403);
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['recovery']);
      this.#checkRecoveryCall(checked.call, caller.device);
      const id = newId();
      const ready = this.#now() + this.opts.recoveryDelaySeconds;
      this.db.prepare("INSERT INTO recoveries (id, address, email, device_public_key, device_name, created_at, ready_at, status, key_index) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL)").run(id, row.address, caller.email, caller.device, name, this.#now(), ready);
      this.audit({ account: row.address, action: 'recover-start', decision: 'accepted', detail: { recovery: id, device: caller.device, ready_at: ready } });
      await this.#notify(row.address, { type: 'custody-recovery', recovery_id: id, account: row.address, device_name: name, ready_at: ready, server_url: this.opts.publicUrl() });
      if (this.opts.recoveryDelaySeconds === 0) return this.#recoverFinish(caller, row, id, checked);
      return { recovery_id: id, status: 'pending', ready_at: ready };
    });
  }

  #checkRecoveryCall(c: TemplateCall, device: string): void {
    if (c.kind !== 'add-key' || c.key.publicKey !== device || c.key.weight !== CUSTODY_KEY_WEIGHT || c.key.signAlgo !== SIGN_ALGO_ECDSA_P256 || c.key.hashAlgo !== HASH_ALGO_SHA2_256) {
      fail('bad_transaction', 'recovery must add exactly this device\'s key (P-256/SHA2-256, weight 500)');
    }
  }

  /** After the delay: a freshly built and recovery-signed add-key (reference blocks expire). */
  async recoverComplete(caller: Caller, id: unknown, body: { transaction: unknown }): Promise<RecoveryView> {
    const r = this.#recovery(id);
    const row = this.#account(r.address);
    return this.#decide(row.address, 'recover-complete', { recovery: r.id }, async () => {
      if (r.device_public_key !== caller.device || r.email !== caller.email) fail('wrong_device', 'this recovery belongs to another device', 403);
      if (r.status === 'cancelled') fail('recovery_cancelled', 'an existing device cancelled this recovery', 409);
      if (r.status === 'completed') fail('recovery_closed', 'this recovery is already complete', 409);
      if (r.ready_at > this.#now()) fail('recovery_pending', `the recovery delay runs until ${new Date(r.ready_at * 1000).toISOString()}`, 409);
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['recovery']);
      this.#checkRecoveryCall(checked.call, caller.device);
      return this.#recoverFinish(caller, row, r.id, checked);
    });
  }

  async #recoverFinish(caller: Caller, row: AccountRow, id: string, checked: Checked): Promise<RecoveryView> {
    const r = this.#recovery(id);
    const out = await this.#cosignAndSend(row, checked, 'recover');
    const idx = this.#recordKey(row.address, out.events, 'device', r.device_public_key, r.device_name);
    this.db.prepare("UPDATE recoveries SET status = 'completed', key_index = ? WHERE id = ?").run(idx, id);
    return { recovery_id: id, status: 'completed', ready_at: r.ready_at, key_index: idx, id: out.id, transaction: out.transaction, ...(await this.tokens.issue({ email: caller.email, device: caller.device, account: row.address })) };
  }

  #recovery(id: unknown): RecoveryRow {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(id)) fail('bad_request', 'bad recovery id');
    const r = this.db.prepare('SELECT * FROM recoveries WHERE id = ?').get(id) as RecoveryRow | undefined;
    if (!r) fail('unknown_recovery', 'no such recovery', 404);
    return r;
  }

  /** Any existing device of the account may cancel a pending recovery during the delay. */
  async recoverCancel(caller: Caller, id: unknown): Promise<{ status: 'cancelled' }> {
    const r = this.#recovery(id);
    const row = this.#forAccount(caller, r.address);
    if (!this.db.prepare("SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0").get(row.address, caller.device)) fail('wrong_device', 'only an existing device can cancel a recovery', 403);
    if (r.status !== 'pending') fail('recovery_closed', `the recovery is ${r.status}`, 409);
    this.db.prepare("UPDATE recoveries SET status = 'cancelled' WHERE id = ?").run(r.id);
    this.audit({ account: row.address, action: 'recover-cancel', decision: 'refused', detail: { recovery: r.id, by: caller.device } });
    return { status: 'cancelled' };
  }

  // ---- notices through the relay ----

  /** Starts the deliveries and returns at once: no request waits on a relay (notice-sender.ts). */
  async #notify(address: string, notice: DeviceNotice, except?: string): Promise<void> {
    const rows = (this.db.prepare("SELECT i.* FROM inboxes i JOIN custody_keys k ON k.address = i.address AND k.public_key = i.device WHERE i.address = ? AND k.revoked = 0 AND k.role = 'device'").all(address) as { device: string; relay_url: string; queue_id: string; box_public_key: string }[]).filter((r) => r.device !== except);
    const plain = new TextEncoder().encode(JSON.stringify(notice));
    this.notices.send(rows, (r) => boxMessageRandom(this.opts.sodium, plain, decodeBase64url(r.box_public_key), this.#boxSecret), `${notice.type} of ${address}`);
  }

  verifyAudit(): ReturnType<typeof verifyAuditChain> {
    return verifyAuditChain(this.db);
  }
}

export type RecoveryView = { recovery_id: string; status: 'pending' | 'completed'; ready_at: number; key_index?: number; id?: string; transaction?: RestTransaction } & Partial<TokenPair>;

export function openCustodyDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, owner TEXT NOT NULL, server_key_index INTEGER NOT NULL,
      server_key TEXT NOT NULL, server_public_key TEXT NOT NULL, self_custody INTEGER NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS custody_keys (address TEXT NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL, public_key TEXT NOT NULL,
      device_name TEXT, revoked INTEGER NOT NULL, PRIMARY KEY (address, idx));
    CREATE TABLE IF NOT EXISTS inboxes (address TEXT NOT NULL, device TEXT NOT NULL, relay_url TEXT NOT NULL, queue_id TEXT NOT NULL,
      box_public_key TEXT NOT NULL, PRIMARY KEY (address, device));
    CREATE TABLE IF NOT EXISTS cosigns (digest TEXT PRIMARY KEY, address TEXT NOT NULL, tx_id TEXT NOT NULL, kind TEXT NOT NULL,
      amount_units TEXT NOT NULL, day TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS cosigns_day ON cosigns (address, day);
    CREATE TABLE IF NOT EXISTS joins (id TEXT PRIMARY KEY, address TEXT NOT NULL, email TEXT NOT NULL, device_public_key TEXT NOT NULL,
      device_name TEXT NOT NULL, origin TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL, key_index INTEGER);
    CREATE TABLE IF NOT EXISTS sign_requests (id TEXT PRIMARY KEY, address TEXT NOT NULL, requester TEXT NOT NULL, tx TEXT NOT NULL,
      created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL, result_id TEXT);
    CREATE TABLE IF NOT EXISTS recoveries (id TEXT PRIMARY KEY, address TEXT NOT NULL, email TEXT NOT NULL, device_public_key TEXT NOT NULL,
      device_name TEXT NOT NULL, created_at INTEGER NOT NULL, ready_at INTEGER NOT NULL, status TEXT NOT NULL, key_index INTEGER);
  `);
  migrateInboxes(db);
  migrateAudit(db);
  migrateTokens(db);
  migrateDevIssuer(db);
  return db;
}

function dayOf(unix: number): string {
  return new Date(unix * 1000).toISOString().slice(0, 10);
}

function parseDeviceKey(v: unknown, what = 'device_public_key'): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{128}$/.test(v)) fail('bad_key', `${what} must be 128 lowercase hex digits (P-256 X‖Y)`);
  try {
    return parsePublicKey(v, SIGN_ALGO_ECDSA_P256);
  } catch {
    fail('bad_key', `${what} is not a P-256 point`);
  }
}

function parseName(v: unknown): string {
  if (typeof v !== 'string' || !/^[\p{L}\p{N} ._'-]{1,64}$/u.test(v)) fail('bad_name', 'device_name must be 1-64 letters, digits, spaces or ._\'-');
  return v;
}

function checkLoginSignature(challenge: Uint8Array, signature: unknown, device: string): void {
  if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature)) fail('bad_signature', 'signature must be 64 bytes hex (r‖s)');
  if (!nodeEcdsa.verify(loginMessage(challenge), hexToBytes(signature), device, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) {
    fail('bad_signature', 'the device key\'s login signature does not verify', 401);
  }
}
