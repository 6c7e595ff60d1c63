/**
 * The custody part of `latch server`: accounts whose keys are a device key, a server key and a
 * recovery key of weight 500 each (any two of three reach Flow's 1000), and the server's
 * decision to co-sign. docs/CUSTODY.md describes the flows; this file is login, accounts,
 * co-signing and notices, and hands joins, signature requests and recoveries to their own files
 * (custody-joins.ts, custody-sign-requests.ts, custody-recovery.ts) through CustodyCore. The policy:
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
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { boxMessageRandom } from '../protocol/envelope.js';
import { sendOutcomeUnknown, type Ledger } from '../ledger/ledger.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256, parsePublicKey, type FlowAccountKey } from '../ledger/flow/flow-account-key.js';
import { parseTemplateCall, signerRole, type TemplateCall } from '../ledger/flow/cadence-templates.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, signTransactionEnvelope } from '../ledger/flow/flow-signer.js';
import { nodeEcdsa } from '../ledger/flow/flow-ecdsa-node.js';
import { envelopeMessage, normalizeTransaction, parseFlowAddress, type FlowTransaction } from '../ledger/flow/flow-transaction.js';
import { fromRestTransaction, toRestAccountKey, toRestTransaction, type RestAccountKey, type RestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { parseAmount, ufix64ToUnits, unitsToUFix64 } from '../ledger/flow/json-cadence.js';
import { appendAudit, migrateAudit, verifyAuditChain, type AuditEntry } from './audit-log.js';
import { isUniqueViolation, type CustodyDb, type SqlQueries } from './custody-db.js';
import { SqliteCustodyDb } from './sqlite-custody-db.js';
import { DevIssuer, migrateDevIssuer } from './dev-issuer.js';
import { TokenService, migrateTokens, type Caller } from './token-service.js';
import { AccountLocks } from './account-lock.js';
import { InboxRegistry, migrateInboxes } from './inbox-registry.js';
import { NoticeSender } from './notice-sender.js';
import { RelayAllowList } from './relay-allow-list.js';
import { assertNewKey } from './new-key-check.js';
import { isCustodyKeyShape } from './custody-key-shape.js';
import { keyFingerprint } from './key-fingerprint.js';
import { dayOf, fail, newId, parseName, type AccountRow, type AccountView, type Checked, type CustodyCore, type CustodyOptions, type RecoveryRow, type SentView } from './custody-core.js';
import { JoinFlow } from './custody-joins.js';
import { SignRequestFlow } from './custody-sign-requests.js';
import { RecoveryFlow } from './custody-recovery.js';
import { LinkFlow, linksOf, peekCall } from './custody-links.js';
import { CUSTODY_KEY_WEIGHT, loginMessage, type DeviceNotice, type KeyRole, type TokenPair } from './custody-api.js';

export type { AccountView, CustodyOptions, RecoveryView, SentView } from './custody-core.js';

export class CustodyService {
  readonly db: CustodyDb;
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
  readonly #locks: AccountLocks;
  readonly #joins: JoinFlow;
  readonly #signRequests: SignRequestFlow;
  readonly #recoveries: RecoveryFlow;
  readonly #links: LinkFlow;

  private constructor(private readonly opts: CustodyOptions, db: CustodyDb, jwtSecret: Uint8Array) {
    this.db = db;
    this.#locks = new AccountLocks(db);
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.tokens = new TokenService(db, jwtSecret, opts.accessTtlSeconds ?? 600, opts.oidcIssuers ?? [], {
      isLiveKey: async (q, account, device) => (await q.get("SELECT 1 FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0", account, device)) !== undefined,
      onReuse: (c) => this.audit({ account: c.account ?? null, action: 'token-reuse', decision: 'refused', detail: { email: c.email, device: c.device, family: c.family } }),
    });
    const relays = new RelayAllowList(opts.inboxRelays ?? [], opts.publicUrl);
    this.#inboxes = new InboxRegistry(db, relays, () => this.#now());
    this.notices = new NoticeSender(relays, opts.deliverLocal, opts.log);
    this.issuer = new DevIssuer(db, opts.mailer);
    this.#maxPerTx = ufix64ToUnits(parseAmount(opts.maxPerTransaction ?? '1000.0'));
    this.#daily = ufix64ToUnits(parseAmount(opts.dailyLimit ?? '10000.0'));
    // The flows get the service's checks and records, nothing more (custody-core.ts).
    const core: CustodyCore = {
      db,
      opts,
      tokens: this.tokens,
      locks: this.#locks,
      now: () => this.#now(),
      audit: (e, q) => this.audit(e, q),
      decideLocked: (account, action, detail, fn) => this.#decideLocked(account, action, detail, fn),
      account: (address) => this.#account(address),
      forAccount: (caller, address) => this.#forAccount(caller, address),
      check: (row, tx, keys, allowed) => this.#check(row, tx, keys, allowed),
      checkLimits: (row, call) => this.#checkLimits(row, call),
      cosignAndSend: (row, checked, action) => this.#cosignAndSend(row, checked, action),
      reserveAndSend: (address, digest, call, signed) => this.#reserveAndSend(address, digest, call, signed),
      recordKey: (address, events, role, publicKey, name) => this.#recordKey(address, events, role, publicKey, name),
      markRevoked: (row, idx, by) => this.#markRevoked(row, idx, by),
      notify: (address, notice, except) => this.#notify(address, notice, except),
      linkGate: (row, caller, parent) => this.#changeGate(row, caller, { kind: 'link', parent }),
    };
    this.#joins = new JoinFlow(core);
    this.#signRequests = new SignRequestFlow(core);
    this.#recoveries = new RecoveryFlow(core);
    this.#links = new LinkFlow(core);
  }

  /** On `opts.db` (PostgreSQL, shared by several nodes), or on DATA/custody/custody.sqlite. */
  static async open(opts: CustodyOptions): Promise<CustodyService> {
    // The data dir also holds this node's audit anchor file (audit-anchor.ts), on either store.
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const db = opts.db ?? SqliteCustodyDb.open(join(opts.dataDir, 'custody.sqlite'));
    const store = db;
    await migrateCustody(store);
    const meta = async (k: string): Promise<string | undefined> => (await store.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', k))?.v;
    if ((await meta('jwt_secret')) === undefined) {
      // The secrets every node shares (issue 10): the first node to store them wins, in one
      // transaction, and the others read what it stored.
      const box = opts.sodium.crypto_box_keypair();
      const rows: [string, string][] = [
        ['jwt_secret', await opts.vault.wrap(opts.sodium.randombytes_buf(32), 'jwt-secret')],
        ['box_secret', await opts.vault.wrap(box.privateKey, 'box-secret')],
        ['box_public', encodeBase64url(box.publicKey)],
      ];
      await store.tx(async (q) => {
        await q.lock('latch-custody-secrets');
        if (await q.get('SELECT 1 FROM meta WHERE k = ?', 'jwt_secret')) return;
        for (const [k, v] of rows) await q.run('INSERT INTO meta (k, v) VALUES (?, ?)', k, v);
      });
    }
    const svc = new CustodyService(opts, store, await opts.vault.unwrap((await meta('jwt_secret'))!, 'jwt-secret'));
    svc.#boxSecret = await opts.vault.unwrap((await meta('box_secret'))!, 'box-secret');
    svc.#boxPublic = decodeBase64url((await meta('box_public'))!);
    return svc;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Appends to the audit chain, in `q` (the caller's transaction) or a transaction of its own. */
  async audit(e: AuditEntry, q?: SqlQueries): Promise<void> {
    if (q) await appendAudit(q, e);
    else await this.db.tx((t) => appendAudit(t, e));
  }

  /**
   * #decide inside the account's lock (account-lock.ts): for every flow that checks account
   * state, sends a transaction, then records what it did. `fn` re-reads that state itself.
   */
  #decideLocked<T>(account: string, action: string, detail: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(account, () => this.#decide(account, action, detail, fn));
  }

  /** Runs `fn`; on a refusal, appends it to the audit log and rethrows. */
  async #decide<T>(account: string | null, action: string, detail: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      // Unless the refusal is the database being away: then there is no log to append to.
      if (e instanceof LatchError && e.code !== 'custody_db_unavailable') await this.audit({ account, action, decision: 'refused', detail: { ...detail, code: e.code, reason: e.message } });
      throw e;
    }
  }

  // ---- login ----

  async loginStart(email: unknown): Promise<{ challenge: string }> {
    return { challenge: bytesToHex(await this.issuer.start(email)) };
  }

  async loginComplete(body: { email: unknown; code: unknown; device_public_key: unknown; signature: unknown }): Promise<TokenPair> {
    const device = parseDeviceKey(body.device_public_key);
    const { email, challenge } = await this.issuer.finish(body.email, body.code);
    checkLoginSignature(challenge, body.signature, device);
    await this.audit({ account: null, action: 'login', decision: 'accepted', detail: { email, device, issuer: 'dev' } });
    return this.tokens.issue({ email, device, ...(await this.#accountOfDevice(email, device)) });
  }

  /** OIDC: the device signs sha256(id_token) under the login tag, binding the token to it. */
  async loginOidc(body: { id_token: unknown; device_public_key: unknown; signature: unknown }): Promise<TokenPair> {
    if (typeof body.id_token !== 'string' || body.id_token.length > 8192) fail('bad_id_token', 'id_token must be a JWT string');
    const device = parseDeviceKey(body.device_public_key);
    const email = await this.tokens.verifyIdToken(body.id_token);
    checkLoginSignature(createHash('sha256').update(body.id_token).digest(), body.signature, device);
    await this.audit({ account: null, action: 'login', decision: 'accepted', detail: { email, device, issuer: 'oidc' } });
    return this.tokens.issue({ email, device, ...(await this.#accountOfDevice(email, device)) });
  }

  async #accountOfDevice(email: string, device: string): Promise<{ account?: string }> {
    const row = await this.db.get("SELECT k.address FROM custody_keys k JOIN accounts a ON a.address = k.address WHERE a.owner = ? AND k.public_key = ? AND k.role = 'device' AND k.revoked = 0 LIMIT 1", email, device) as { address: string } | undefined;
    return row ? { account: row.address } : {};
  }

  // ---- accounts ----

  async createAccount(caller: Caller, body: { device_name: unknown; recovery_public_key?: unknown; inbox?: unknown }, requestHost?: string): Promise<{ address: string } & TokenPair> {
    const name = parseName(body.device_name);
    const recovery = body.recovery_public_key === undefined || body.recovery_public_key === null ? undefined : parseDeviceKey(body.recovery_public_key, 'recovery_public_key');
    const inbox = body.inbox === undefined ? undefined : await this.#inboxes.check(body.inbox, { account: null, device: caller.device, requestHost });
    if (recovery === caller.device) fail('bad_key', 'the recovery key must differ from the device key');
    return this.#decide(null, 'create-account', { email: caller.email, device: caller.device }, async () => {
      const serverSecret = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
      const serverPublic = flowPublicKeyFromPrivate(serverSecret, SIGN_ALGO_ECDSA_P256);
      const key = (publicKey: string) => ({ publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT }) as const;
      const keys = [key(caller.device), key(serverPublic), ...(recovery ? [key(recovery)] : [])];
      const balance = this.opts.ledger.kind === 'embedded' ? (this.opts.startingBalance ?? '1000.00000000') : '0.00000000';
      const address = await this.opts.ledger.createAccount(keys, balance);
      const wrapped = await this.opts.vault.wrap(serverSecret, `server-key:${address}`);
      await this.db.tx(async (q) => {
        await q.run('INSERT INTO accounts (address, owner, server_key_index, server_key, server_public_key, self_custody, created_at) VALUES (?, ?, 1, ?, ?, 0, ?)', address, caller.email, wrapped, serverPublic, this.#now());
        const ins = 'INSERT INTO custody_keys (address, idx, role, public_key, device_name, revoked) VALUES (?, ?, ?, ?, ?, 0)';
        await q.run(ins, address, 0, 'device', caller.device, name);
        await q.run(ins, address, 1, 'server', serverPublic, null);
        if (recovery) await q.run(ins, address, 2, 'recovery', recovery, null);
        if (inbox) await this.#inboxes.save(q, address, caller.device, inbox);
        await this.audit({ account: address, action: 'create-account', decision: 'accepted', detail: { email: caller.email, device: caller.device, recovery: recovery !== undefined } }, q);
      });
      this.#serverKeys.set(address, serverSecret);
      return { address, ...(await this.tokens.issue({ email: caller.email, device: caller.device, account: address })) };
    });
  }

  async #account(address: string): Promise<AccountRow> {
    const row = await this.db.get('SELECT * FROM accounts WHERE address = ?', address) as AccountRow | undefined;
    if (!row) fail('unknown_account', `this server holds no key of account ${address}`, 404);
    return row;
  }

  /** The caller must hold a token for exactly this account (policy rule 1). */
  async #forAccount(caller: Caller, addressText: unknown): Promise<AccountRow> {
    if (typeof addressText !== 'string') fail('bad_address', 'address must be a string');
    const address = parseFlowAddress(addressText);
    if (caller.account !== address) {
      await this.audit({ account: address, action: 'authorize', decision: 'refused', detail: { code: 'wrong_account', email: caller.email, device: caller.device, token_account: caller.account ?? null } });
      fail('wrong_account', `the access token is not for account ${address}`, 403);
    }
    return this.#account(address);
  }

  /** Read-only: a token for the account, or any login of its owner (a recovering device needs it). */
  async getAccount(caller: Caller, address: unknown): Promise<AccountView> {
    if (typeof address !== 'string') fail('bad_address', 'address must be a string');
    const row = await this.#account(parseFlowAddress(address));
    if (caller.account !== row.address && caller.email !== row.owner) fail('wrong_account', `the access token is not for account ${row.address}`, 403);
    return this.#view(row);
  }

  async #view(row: AccountRow): Promise<AccountView> {
    const acct = await this.opts.ledger.getAccount(row.address);
    const roles = await this.db.all('SELECT idx, role, device_name FROM custody_keys WHERE address = ?', row.address) as { idx: number; role: KeyRole; device_name: string | null }[];
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
      ...(await linksOf(this.opts.ledger, acct.address)),
    };
  }

  /** Signed by the device key it speaks for (inbox-registry.ts); a token alone is not enough. */
  async registerInbox(caller: Caller, address: unknown, body: unknown, requestHost?: string): Promise<{ ok: true }> {
    const row = await this.#forAccount(caller, address);
    return this.#decide(row.address, 'register-inbox', { device: caller.device }, async () => {
      await this.#inboxes.save(this.db, row.address, caller.device, await this.#inboxes.check(body, { account: row.address, device: caller.device, requestHost }));
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
    const roles = await this.db.all('SELECT idx, role FROM custody_keys WHERE address = ?', a) as { idx: number; role: KeyRole }[];
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
    if (await this.db.get('SELECT 1 FROM cosigns WHERE digest = ?', digest)) fail('replay', 'this exact transaction was already co-signed', 409);
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
    const sent = await this.#reserveAndSend(row.address, checked.digest, checked.call, signed);
    await this.audit({ account: row.address, action, decision: 'signed', detail: { tx: sent.id, kind: checked.call.kind, signers: checked.signers, ...(checked.call.kind === 'transfer' ? { amount: checked.call.amount, to: checked.call.to } : {}) } });
    return { id: sent.id, transaction: toRestTransaction(signed), status: sent.status, events: sent.events };
  }

  /**
   * Records the co-signature (its digest for replay, its amount for the daily limit) BEFORE the
   * ledger sees it, and drops the record only when the ledger refused it: a request that reads the
   * table while this one is sealing, or after a crash mid-send, counts it (issue 15 §2). A send
   * the network accepted but that was not seen sealed (seal_timeout) may still move the funds, so
   * its record stays (ledger.ts sendOutcomeUnknown).
   */
  async #reserveAndSend(address: string, digest: string, call: TemplateCall, signed: FlowTransaction): Promise<Awaited<ReturnType<Ledger['sendTransaction']>>> {
    const amount = call.kind === 'transfer' ? ufix64ToUnits(call.amount).toString() : '0';
    try {
      await this.db.run("INSERT INTO cosigns (digest, address, tx_id, kind, amount_units, day, at) VALUES (?, ?, 'reserved', ?, ?, ?, ?)", digest, address, call.kind, amount, dayOf(this.#now()), this.#now());
    } catch (e) {
      if (isUniqueViolation(e)) fail('replay', 'this exact transaction was already co-signed', 409);
      throw e;
    }
    let sent;
    try {
      sent = await this.opts.ledger.sendTransaction(signed);
    } catch (e) {
      if (!sendOutcomeUnknown(e)) await this.db.run("DELETE FROM cosigns WHERE digest = ? AND tx_id = 'reserved'", digest);
      throw e;
    }
    await this.db.run('UPDATE cosigns SET tx_id = ? WHERE digest = ?', sent.id, digest);
    return sent;
  }

  /** Policy rule 4. */
  async #checkLimits(row: AccountRow, call: TemplateCall): Promise<void> {
    if (call.kind !== 'transfer') return;
    const amount = ufix64ToUnits(call.amount);
    if (amount > this.#maxPerTx) fail('over_limit', `${call.amount} is more than the ${unitsToUFix64(this.#maxPerTx)} FLOW allowed per transaction`, 403);
    const sum = (rows: { amount_units: string }[]): bigint => rows.reduce((s, r) => s + BigInt(r.amount_units), 0n);
    const spent = sum(await this.db.all("SELECT amount_units FROM cosigns WHERE address = ? AND day = ? AND kind = 'transfer'", row.address, dayOf(this.#now())) as { amount_units: string }[]);
    // Signature requests still waiting for a second device hold their amount (issue 15 §6): two
    // pending requests of 200 would otherwise both pass a limit of 300 and both complete.
    const reserved = sum(await this.db.all("SELECT amount_units FROM sign_requests WHERE address = ? AND status = 'pending' AND expires_at > ?", row.address, this.#now()) as { amount_units: string }[]);
    if (spent + reserved + amount > this.#daily) {
      const held = reserved > 0n ? ` (${unitsToUFix64(reserved)} of it held by pending signature requests)` : '';
      fail('over_limit', `this would bring today's total to ${unitsToUFix64(spent + reserved + amount)} FLOW${held}, over the daily limit of ${unitsToUFix64(this.#daily)}`, 403);
    }
  }

  /**
   * Co-sign a transfer or key revocation (and adding a recovery key when the account has none).
   * Only a device key may ask: the recovery key spends with a second key of the user's own
   * (`submit`), or comes in through the delayed recovery flow, never with the server's key and
   * an access token alone (docs/CUSTODY.md "The recovery key does not spend with the server").
   */
  async cosign(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<SentView> {
    const row = await this.#forAccount(caller, address);
    return this.#decideLocked(row.address, 'cosign', { device: caller.device }, async () => {
      // A link or unlink names its parent in its own request (custody-links.ts), so the server
      // co-signs it only for the parent the user named there; redeem and child-transfer are the
      // parent's, signed by the parent alone. Checked before anything else (replay included).
      const kind = peekCall(this.opts.ledger.network, body.transaction).call.kind;
      if (kind === 'link' || kind === 'unlink') fail('use_link_route', `a ${kind} goes through POST /accounts/A/${kind === 'link' ? 'links' : 'unlinks'}, which names the parent`);
      if (signerRole(kind) === 'parent') fail('bad_transaction', `a ${kind} is signed by the parent alone; the server does not co-sign it`);
      const keys = (await this.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.#check(row, body.transaction, keys, ['device']);
      const call = checked.call;
      let change: string | undefined;
      if (call.kind === 'add-key') {
        const hasRecovery = await this.db.get("SELECT 1 FROM custody_keys WHERE address = ? AND role = 'recovery' AND revoked = 0", row.address);
        if (hasRecovery) fail('use_join', 'new device keys are added through `latch account join` (2FA) or recovery, not a plain co-sign', 403);
        if (!isCustodyKeyShape(call.key)) fail('bad_key', 'a recovery key is P-256/SHA2-256 with weight 500');
        assertNewKey(keys, call.key.publicKey);
        change = await this.#changeGate(row, caller, { kind: 'recovery-key', publicKey: call.key.publicKey });
      }
      if (call.kind === 'revoke-key' && !keys.some((k) => k.index === call.keyIndex)) fail('unknown_key', `account ${row.address} has no key ${call.keyIndex}`);
      await this.#checkLimits(row, call);
      const out = await this.#cosignAndSend(row, checked, 'cosign');
      if (call.kind === 'add-key') {
        const idx = await this.#recordKey(row.address, out.events, 'recovery', call.key.publicKey, null);
        await this.db.run("UPDATE recoveries SET status = 'completed', key_index = ? WHERE id = ?", idx, change!);
      }
      if (call.kind === 'revoke-key') await this.#markRevoked(row, call.keyIndex, caller.device);
      return { id: out.id, transaction: out.transaction, status: out.status };
    });
  }

  /**
   * The gate for a change device + server could make that hands the account to a key other than
   * the server's (docs/CUSTODY.md "Replacing the recovery key", "Account linking"):
   * - adding a recovery key gives the account a second key the user holds, so afterwards two user
   *   keys move funds without the server's limits. A thief with the device key and a token would
   *   add a key of his own (issue 15 §1);
   * - a link publishes a capability to a parent that then moves everything by its own signature
   *   alone: the same thief would link his own wallet (security review of issue 13).
   * So every device is told, as for a recovery; the change is delayed like a recovery when it
   * replaces a recovery key or is a link (`always`), or when a device could not be told (no inbox,
   * or its relay did not answer). Such a change also needs a live device OTHER than the asking one
   * to have been told: on a one-device account the only device told is the stolen one, and nobody
   * could cancel (`…_needs_second_device`, 403). Returns the id of the change the co-sign
   * completes; throws `…_delayed` (409) while the delay runs. Any live device cancels it with
   * `latch account recover --cancel ID`.
   */
  async #changeGate(row: AccountRow, caller: Caller, change: { kind: 'recovery-key'; publicKey: string } | { kind: 'link'; parent: string }): Promise<string> {
    const now = this.#now();
    // The change's subject: the key added, or the parent linked (RecoveryRow.device_public_key).
    const subject = change.kind === 'link' ? change.parent : change.publicKey;
    const what = change.kind === 'link' ? `linking ${change.parent}, which could then move everything in this account,` : `adding this recovery key (${keyFingerprint(change.publicKey)})`;
    const code = change.kind === 'link' ? 'link' : 'recovery_key';
    const pending = await this.db.get("SELECT * FROM recoveries WHERE address = ? AND kind = ? AND status = 'pending' AND device_public_key = ? ORDER BY created_at DESC LIMIT 1", row.address, change.kind, subject) as RecoveryRow | undefined;
    const delayed = (r: { id: string; ready_at: number }): never =>
      fail(`${code}_delayed`, `${what} waits until ${new Date(r.ready_at * 1000).toISOString()}; every device was told and can cancel it (latch account recover --cancel ${r.id}); send it again then`, 409);
    const always = change.kind === 'link' || await this.db.get("SELECT 1 FROM custody_keys WHERE address = ? AND role = 'recovery'", row.address) !== undefined;
    // The HTTP layer audits the refusal with its code and message (custody-http.ts).
    const needsSecond = (): never =>
      fail(
        `${code}_needs_second_device`,
        change.kind === 'link'
          ? `linking a parent needs a second device of this account that is told of it and can cancel it; none was reached. Join a second device first (latch account join ${row.address} on it)`
          : `replacing the recovery key needs a second device of this account that is told of it and can cancel it; none was reached. Join a second device first (latch account join ${row.address} on it), or recover with your recovery kit (latch account recover)`,
        403,
      );
    if (pending) {
      // A second device told when the change started may since have been revoked (by the same
      // device + server): then nobody who can still cancel was told, so it does not complete.
      if (always && (await this.#otherLiveDevices(row.address, caller.device)) === 0) needsSecond();
      if (pending.ready_at > now) delayed(pending);
      return pending.id;
    }
    const id = newId();
    const name = (await this.db.get("SELECT device_name FROM custody_keys WHERE address = ? AND public_key = ? AND role = 'device' AND revoked = 0", row.address, caller.device) as { device_name: string | null } | undefined)?.device_name ?? 'a device';
    const mustWait = always && this.opts.recoveryDelaySeconds > 0;
    const ready = now + this.opts.recoveryDelaySeconds;
    const base = { type: 'custody-recovery' as const, recovery_id: id, account: row.address, device_name: name, ready_at: mustWait ? ready : now, server_url: this.opts.publicUrl() };
    const notice: DeviceNotice = change.kind === 'link' ? { ...base, change: 'link', parent: change.parent } : { ...base, change: 'recovery-key', key_fingerprint: keyFingerprint(change.publicKey) };
    // The other devices first: a change none of them received is refused before the asking
    // device is told of a change that will not happen.
    const others = await this.#notify(row.address, notice, caller.device);
    if (always && others.told === 0) needsSecond();
    const self = await this.#notify(row.address, notice, undefined, caller.device);
    const told = { all: others.all && self.all, told: others.told + self.told, missed: others.missed + self.missed };
    const wait = this.opts.recoveryDelaySeconds > 0 && (always || !told.all);
    await this.db.run("INSERT INTO recoveries (id, address, email, device_public_key, device_name, created_at, ready_at, status, key_index, kind) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?)", id, row.address, caller.email, subject, name, now, wait ? ready : now, change.kind);
    const detail = change.kind === 'link' ? { parent: change.parent } : { key: keyFingerprint(change.publicKey), replacement: always };
    await this.audit({ account: row.address, action: `${change.kind}-change`, decision: wait ? 'info' : 'accepted', detail: { change: id, ...detail, by: caller.device, devices_told: told.told, devices_missed: told.missed, ready_at: wait ? ready : now } });
    if (wait) delayed({ id, ready_at: ready });
    return id;
  }

  /** After self-custody: forward a transaction the user signed with two keys; the server adds nothing. */
  async submit(caller: Caller, address: unknown, body: { transaction: unknown }): Promise<SentView> {
    const row = await this.#forAccount(caller, address);
    return this.#decideLocked(row.address, 'submit', { device: caller.device }, async () => {
      let tx: FlowTransaction;
      try {
        tx = normalizeTransaction(fromRestTransaction(body.transaction));
      } catch (e) {
        if (e instanceof LatchError) fail('bad_transaction', `transaction: ${e.message}`);
        throw e;
      }
      if (tx.payer !== row.address) fail('bad_transaction', `the payer must be ${row.address}`);
      const call = parseTemplateCall(this.opts.ledger.network, tx.script, tx.arguments);
      if (call.kind === 'add-key') {
        if (!isCustodyKeyShape(call.key)) fail('bad_key', 'an added key is P-256/SHA2-256 with weight 500, so no one key reaches 1000 alone');
        assertNewKey((await this.opts.ledger.getAccount(row.address)).keys, call.key.publicKey);
      }
      const sent = await this.opts.ledger.sendTransaction(tx);
      if (call.kind === 'revoke-key') await this.#markRevoked(row, call.keyIndex, caller.device);
      if (call.kind === 'add-key') await this.#recordKey(row.address, sent.events, 'device', call.key.publicKey, null);
      await this.audit({ account: row.address, action: 'submit', decision: 'accepted', detail: { tx: sent.id, kind: call.kind } });
      return { id: sent.id, transaction: toRestTransaction(tx), status: sent.status };
    });
  }

  async #recordKey(address: string, events: { type: string; values: Record<string, string> }[], role: KeyRole, publicKey: string, name: string | null): Promise<number> {
    const ev = events.find((e) => e.type === 'flow.AccountKeyAdded');
    const idx = Number(ev?.values.keyIndex);
    if (!Number.isInteger(idx)) fail('ledger', 'the ledger did not report the new key index', 502);
    await this.db.run('INSERT INTO custody_keys (address, idx, role, public_key, device_name, revoked) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (address, idx) DO UPDATE SET role = excluded.role, public_key = excluded.public_key, device_name = excluded.device_name, revoked = 0', address, idx, role, publicKey, name);
    return idx;
  }

  /** Live device keys of `address` other than `device`. */
  async #otherLiveDevices(address: string, device: string): Promise<number> {
    return (await this.db.get("SELECT COUNT(*) AS n FROM custody_keys WHERE address = ? AND role = 'device' AND revoked = 0 AND public_key <> ?", address, device) as { n: number }).n;
  }

  /** Records a revocation the ledger applied, and tells the devices (`by`: the device that asked). */
  async #markRevoked(row: AccountRow, idx: number, by: string): Promise<void> {
    // Read first: a revoked device's inbox goes with its key, and it is told too.
    const before = await this.db.get('SELECT public_key, role, device_name FROM custody_keys WHERE address = ? AND idx = ?', row.address, idx) as { public_key: string; role: KeyRole; device_name: string | null } | undefined;
    const ownInbox = before?.role === 'device' ? await this.#inboxRows(row.address, (d) => d === before.public_key) : [];
    await this.db.tx(async (q) => {
      await q.run('UPDATE custody_keys SET revoked = 1 WHERE address = ? AND idx = ?', row.address, idx);
      const k = await q.get<{ public_key: string; role: KeyRole }>('SELECT public_key, role FROM custody_keys WHERE address = ? AND idx = ?', row.address, idx);
      if (k?.role === 'device') {
        await this.tokens.revokeDevice(q, k.public_key);
        await q.run('DELETE FROM inboxes WHERE address = ? AND device = ?', row.address, k.public_key);
      }
      if (idx === row.server_key_index) {
        await q.run('UPDATE accounts SET self_custody = 1 WHERE address = ?', row.address);
        await this.audit({ account: row.address, action: 'self-custody', decision: 'info', detail: { serverKeyIndex: idx } }, q);
      }
    });
    if (idx === row.server_key_index) this.#serverKeys.delete(row.address);
    // After the record, and never failing the request: the revocation stands whether or not a
    // device can be told (the ledger has applied it already).
    try {
      const asker = await this.db.get('SELECT device_name FROM custody_keys WHERE address = ? AND public_key = ?', row.address, by) as { device_name: string | null } | undefined;
      const notice: DeviceNotice = {
        type: 'custody-key-revoked',
        account: row.address,
        key_index: idx,
        role: before?.role ?? 'unknown',
        ...(before ? { key_fingerprint: keyFingerprint(before.public_key) } : {}),
        ...(before?.role === 'device' && before.device_name ? { revoked_name: before.device_name } : {}),
        device_name: asker?.device_name ?? 'a device',
        revoked_at: this.#now(),
        server_url: this.opts.publicUrl(),
      };
      await this.#sendNotice([...(await this.#inboxRows(row.address)), ...ownInbox], notice, row.address);
    } catch (e) {
      this.opts.log(`could not tell the devices of ${row.address} that key ${idx} was revoked: ${(e as Error).message}`);
    }
  }

  // ---- the flows in their own files ----

  joinStart(...a: Parameters<JoinFlow['joinStart']>): ReturnType<JoinFlow['joinStart']> {
    return this.#joins.joinStart(...a);
  }
  joinStatus(...a: Parameters<JoinFlow['joinStatus']>): ReturnType<JoinFlow['joinStatus']> {
    return this.#joins.joinStatus(...a);
  }
  joinApprove(...a: Parameters<JoinFlow['joinApprove']>): ReturnType<JoinFlow['joinApprove']> {
    return this.#joins.joinApprove(...a);
  }
  joinDeny(...a: Parameters<JoinFlow['joinDeny']>): ReturnType<JoinFlow['joinDeny']> {
    return this.#joins.joinDeny(...a);
  }
  signRequestStart(...a: Parameters<SignRequestFlow['signRequestStart']>): ReturnType<SignRequestFlow['signRequestStart']> {
    return this.#signRequests.signRequestStart(...a);
  }
  signRequestStatus(...a: Parameters<SignRequestFlow['signRequestStatus']>): ReturnType<SignRequestFlow['signRequestStatus']> {
    return this.#signRequests.signRequestStatus(...a);
  }
  signRequestApprove(...a: Parameters<SignRequestFlow['signRequestApprove']>): ReturnType<SignRequestFlow['signRequestApprove']> {
    return this.#signRequests.signRequestApprove(...a);
  }
  signRequestDeny(...a: Parameters<SignRequestFlow['signRequestDeny']>): ReturnType<SignRequestFlow['signRequestDeny']> {
    return this.#signRequests.signRequestDeny(...a);
  }
  recoverStart(...a: Parameters<RecoveryFlow['recoverStart']>): ReturnType<RecoveryFlow['recoverStart']> {
    return this.#recoveries.recoverStart(...a);
  }
  recoverComplete(...a: Parameters<RecoveryFlow['recoverComplete']>): ReturnType<RecoveryFlow['recoverComplete']> {
    return this.#recoveries.recoverComplete(...a);
  }
  recoverCancel(...a: Parameters<RecoveryFlow['recoverCancel']>): ReturnType<RecoveryFlow['recoverCancel']> {
    return this.#recoveries.recoverCancel(...a);
  }

  link(...a: Parameters<LinkFlow['link']>): ReturnType<LinkFlow['link']> {
    return this.#links.link(...a);
  }
  unlink(...a: Parameters<LinkFlow['unlink']>): ReturnType<LinkFlow['unlink']> {
    return this.#links.unlink(...a);
  }
  ledgerAccount(...a: Parameters<LinkFlow['ledgerAccount']>): ReturnType<LinkFlow['ledgerAccount']> {
    return this.#links.ledgerAccount(...a);
  }
  submitAsParent(...a: Parameters<LinkFlow['submitAsParent']>): ReturnType<LinkFlow['submitAsParent']> {
    return this.#links.submitAsParent(...a);
  }
  createSelfCustodyAccount(...a: Parameters<LinkFlow['createSelfCustodyAccount']>): ReturnType<LinkFlow['createSelfCustodyAccount']> {
    return this.#links.createSelfCustodyAccount(...a);
  }

  // ---- notices through the relay ----

  /** Boxes `notice` to every live device's inbox; says how many were told and how many missed (no inbox, or its relay failed). */
  async #notify(address: string, notice: DeviceNotice, except?: string, only?: string): Promise<{ all: boolean; told: number; missed: number }> {
    const pick = (device: string): boolean => device !== except && (only === undefined || device === only);
    const rows = await this.#inboxRows(address, pick);
    const devices = (await this.db.all("SELECT public_key FROM custody_keys WHERE address = ? AND revoked = 0 AND role = 'device'", address) as { public_key: string }[]).filter((d) => pick(d.public_key)).length;
    const told = await this.#sendNotice(rows, notice, address);
    return { all: told === devices, told, missed: devices - told };
  }

  /** The notice inboxes of the live devices of `address` that `pick` keeps. */
  async #inboxRows(address: string, pick: (device: string) => boolean = () => true): Promise<InboxRow[]> {
    const rows = await this.db.all("SELECT i.* FROM inboxes i JOIN custody_keys k ON k.address = i.address AND k.public_key = i.device WHERE i.address = ? AND k.revoked = 0 AND k.role = 'device'", address) as InboxRow[];
    return rows.filter((r) => pick(r.device));
  }

  /** Boxes `notice` to each inbox; how many of them were told. */
  #sendNotice(rows: readonly InboxRow[], notice: DeviceNotice, address: string): Promise<number> {
    const plain = new TextEncoder().encode(JSON.stringify(notice));
    // Never waits on another party's network (notice-sender.ts): only deliveries to our own
    // relay (in-process) count as told; remote ones run in the background and count as missed.
    return this.notices.send(rows, (r) => boxMessageRandom(this.opts.sodium, plain, decodeBase64url(r.box_public_key), this.#boxSecret), `${notice.type} of ${address}`);
  }

  verifyAudit(): ReturnType<typeof verifyAuditChain> {
    return verifyAuditChain(this.db);
  }
}

/** A device's notice inbox (docs/CUSTODY.md "Notice inboxes"). */
interface InboxRow {
  device: string;
  relay_url: string;
  queue_id: string;
  box_public_key: string;
}

/** The custody tables, in the store's dialect (PostgreSQL: BIGINT for Unix seconds, all columns from the start). */
export async function migrateCustody(db: CustodyDb): Promise<void> {
  const int = db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  await db.exec(`
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, owner TEXT NOT NULL, server_key_index INTEGER NOT NULL,
      server_key TEXT NOT NULL, server_public_key TEXT NOT NULL, self_custody INTEGER NOT NULL, created_at ${int} NOT NULL);
    CREATE TABLE IF NOT EXISTS custody_keys (address TEXT NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL, public_key TEXT NOT NULL,
      device_name TEXT, revoked INTEGER NOT NULL, PRIMARY KEY (address, idx));
    CREATE TABLE IF NOT EXISTS inboxes (address TEXT NOT NULL, device TEXT NOT NULL, relay_url TEXT NOT NULL, queue_id TEXT NOT NULL,
      box_public_key TEXT NOT NULL, ${db.dialect === 'postgres' ? 'signed_at BIGINT NOT NULL DEFAULT 0, ' : ''}PRIMARY KEY (address, device));
    CREATE TABLE IF NOT EXISTS cosigns (digest TEXT PRIMARY KEY, address TEXT NOT NULL, tx_id TEXT NOT NULL, kind TEXT NOT NULL,
      amount_units TEXT NOT NULL, day TEXT NOT NULL, at ${int} NOT NULL);
    CREATE INDEX IF NOT EXISTS cosigns_day ON cosigns (address, day);
    CREATE TABLE IF NOT EXISTS joins (id TEXT PRIMARY KEY, address TEXT NOT NULL, email TEXT NOT NULL, device_public_key TEXT NOT NULL,
      device_name TEXT NOT NULL, origin TEXT NOT NULL, created_at ${int} NOT NULL, expires_at ${int} NOT NULL, status TEXT NOT NULL, key_index INTEGER);
    CREATE TABLE IF NOT EXISTS sign_requests (id TEXT PRIMARY KEY, address TEXT NOT NULL, requester TEXT NOT NULL, tx TEXT NOT NULL,
      created_at ${int} NOT NULL, expires_at ${int} NOT NULL, status TEXT NOT NULL, result_id TEXT${db.dialect === 'postgres' ? ", amount_units TEXT NOT NULL DEFAULT '0'" : ''});
    CREATE TABLE IF NOT EXISTS recoveries (id TEXT PRIMARY KEY, address TEXT NOT NULL, email TEXT NOT NULL, device_public_key TEXT NOT NULL,
      device_name TEXT NOT NULL, created_at ${int} NOT NULL, ready_at ${int} NOT NULL, status TEXT NOT NULL, key_index INTEGER${db.dialect === 'postgres' ? ", kind TEXT NOT NULL DEFAULT 'device'" : ''});
  `);
  if (db.dialect === 'sqlite') {
    // Columns added after the first release (issue 15).
    const has = async (table: string, col: string): Promise<boolean> => (await db.all<{ name: string }>(`PRAGMA table_info(${table})`)).some((c) => c.name === col);
    if (!(await has('recoveries', 'kind'))) await db.exec("ALTER TABLE recoveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'device'");
    if (!(await has('sign_requests', 'amount_units'))) await db.exec("ALTER TABLE sign_requests ADD COLUMN amount_units TEXT NOT NULL DEFAULT '0'");
    await migrateInboxes(db);
  }
  await migrateAudit(db);
  await migrateTokens(db);
  await migrateDevIssuer(db);
}

function parseDeviceKey(v: unknown, what = 'device_public_key'): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{128}$/.test(v)) fail('bad_key', `${what} must be 128 lowercase hex digits (P-256 X‖Y)`);
  try {
    return parsePublicKey(v, SIGN_ALGO_ECDSA_P256);
  } catch {
    fail('bad_key', `${what} is not a P-256 point`);
  }
}


function checkLoginSignature(challenge: Uint8Array, signature: unknown, device: string): void {
  if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature)) fail('bad_signature', 'signature must be 64 bytes hex (r‖s)');
  if (!nodeEcdsa.verify(loginMessage(challenge), hexToBytes(signature), device, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) {
    fail('bad_signature', 'the device key\'s login signature does not verify', 401);
  }
}
