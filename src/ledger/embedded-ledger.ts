/**
 * The embedded ledger: Flow's account and key rules over a SQLite file, so Latch's custody
 * flows run with no network. It accepts the same signed transactions a Flow Access node
 * would, and checks what Flow checks before executing (flow-go fvm transaction verifier and
 * sequence-number checker; Flow docs "Accounts & Keys", "Transaction Signing"):
 *   - the reference block is one this ledger issued, at most 600 blocks behind (Flow's expiry);
 *   - the proposal key exists, is not revoked, its sequence number matches, and it signed;
 *     the sequence number is then incremented;
 *   - payload signatures come from proposer/authorizers other than the payer, envelope
 *     signatures from the payer only; every signature verifies with its key's own signature
 *     and hash algorithms over the domain-tagged payload or envelope; revoked keys can't sign;
 *   - every authorizer's, and the payer's, signing keys (each key counted once) weigh >= 1000.
 * One rule is Latch's, not Flow's (Flow lets an account hold one public key at several
 * indexes): a public key appears at most once among an account's live (non-revoked) keys, at
 * creation and on every add-key, so one private key can never sign as two indexes and sum their
 * weights (issue 15: a stolen device key re-added as the "recovery" key reached 1000 alone).
 * Then it runs the transaction, but only if its script is one of Latch's templates (by
 * SHA3-256 of the script); anything else is refused with LatchError('unknown_script').
 *
 * Unlike Flow, a transaction that fails execution changes nothing (no fee, no sequence
 * bump): each transaction is one database transaction, so a refusal leaves no trace.
 *
 * Its store is a CustodyDb: the SQLite file DATA/custody/ledger.sqlite by default, or, with
 * `--custody-db`, PostgreSQL (schema latch_ledger) shared by every server node (issue 10). There
 * every block-making transaction takes one advisory lock first: the chain of blocks and the
 * account counter are global, as a real chain's are.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteCustodyDb } from '../custody/sqlite-custody-db.js';
import type { CustodyDb, SqlQueries } from '../custody/custody-db.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { LatchError } from '../util/latch-error.js';
import {
  FULL_WEIGHT,
  normalizeNewKey,
  type FlowAccountKey,
  type FlowHashAlgo,
  type FlowSignAlgo,
  type NewFlowAccountKey,
} from './flow/flow-account-key.js';
import { CONTRACT_ADDRESSES, parseTemplateCall, type FlowNetwork, type TemplateCall } from './flow/cadence-templates.js';
import { HYBRID_CUSTODY_ADDRESSES } from './flow/hybrid-custody-templates.js';
import { bytesToHex, canonicalHex, hexToBytes } from './flow/flow-hex.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { nodeEcdsa } from './flow/flow-ecdsa-node.js';
import {
  envelopeMessage,
  normalizeTransaction,
  parseFlowAddress,
  payloadMessage,
  transactionId,
  type FlowSignature,
  type FlowTransaction,
} from './flow/flow-transaction.js';
import { parseAmount, ufix64ToUnits, unitsToUFix64 } from './flow/json-cadence.js';
import type { AccountLinks, Ledger, LedgerAccount, LedgerEvent, LedgerTransactionRecord, SentTransaction } from './ledger.js';

/** Flow's transaction expiry, in blocks (flow-go DefaultTransactionExpiry). */
export const REFERENCE_BLOCK_EXPIRY = 600;
const SCHEMA_VERSION = '1';
const NETWORK: FlowNetwork = 'emulator';
const FLOW_TOKEN = CONTRACT_ADDRESSES.emulator.FlowToken.slice(2);
const HYBRID_CUSTODY = HYBRID_CUSTODY_ADDRESSES.emulator.HybridCustody.slice(2);

interface KeyRow {
  address: string;
  idx: number;
  public_key: string;
  sign_algo: number;
  hash_algo: number;
  weight: number;
  sequence_number: number;
  revoked: number;
}

function err(code: string, message: string, status = 400): LatchError {
  return new LatchError(code, message, { status });
}

/** The same public key twice among an account's live keys (see the file comment). */
function duplicateKey(existingIndex: number): LatchError {
  return err('duplicate_key', `the account already holds this public key as key ${existingIndex}; one key cannot hold two indexes`, 409);
}

function keyFromRow(r: KeyRow): FlowAccountKey {
  return {
    index: r.idx,
    publicKey: r.public_key,
    signAlgo: r.sign_algo as FlowSignAlgo,
    hashAlgo: r.hash_algo as FlowHashAlgo,
    weight: r.weight,
    sequenceNumber: r.sequence_number,
    revoked: r.revoked === 1,
  };
}

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

export class EmbeddedLedger implements Ledger {
  readonly kind = 'embedded' as const;
  readonly network = NETWORK;
  /** Resolves once the schema is in place; every call waits for it. */
  readonly #ready: Promise<void>;

  constructor(private readonly db: CustodyDb) {
    this.#ready = this.migrate();
    // A failed migration surfaces on the first call; not here as an unhandled rejection.
    this.#ready.catch(() => undefined);
  }

  /** Opens (creating if needed) `ledger.sqlite` in `dataDir`. */
  static open(dataDir: string, fileName = 'ledger.sqlite'): EmbeddedLedger {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return new EmbeddedLedger(SqliteCustodyDb.open(join(dataDir, fileName), ['foreign_keys = ON']));
  }

  /** Each write of the chain at a time, across every node sharing the store. */
  #tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    return this.#ready.then(() =>
      this.db.tx(async (q) => {
        await q.lock('latch-embedded-ledger');
        return fn(q);
      }),
    );
  }

  #read<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    return this.#ready.then(() => fn(this.db));
  }

  private async migrate(): Promise<void> {
    const int = this.db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
    await this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS accounts (
        address TEXT PRIMARY KEY, balance TEXT NOT NULL, created_height ${int} NOT NULL);
      CREATE TABLE IF NOT EXISTS account_keys (
        address TEXT NOT NULL REFERENCES accounts(address), idx INTEGER NOT NULL,
        public_key TEXT NOT NULL, sign_algo INTEGER NOT NULL, hash_algo INTEGER NOT NULL,
        weight INTEGER NOT NULL, sequence_number ${int} NOT NULL, revoked INTEGER NOT NULL,
        PRIMARY KEY (address, idx));
      CREATE TABLE IF NOT EXISTS blocks (
        height ${int} PRIMARY KEY, id TEXT NOT NULL UNIQUE, parent_id TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS transactions (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, events TEXT NOT NULL, block_id TEXT NOT NULL);
      -- Hybrid Custody state (hybrid-custody-templates.ts): a child's capability published to a
      -- parent ('published'), then claimed into the parent's Manager ('redeemed'); managers
      -- outlive their children, as the Manager resource stays in the parent's storage.
      CREATE TABLE IF NOT EXISTS hc_links (
        child TEXT NOT NULL REFERENCES accounts(address), parent TEXT NOT NULL REFERENCES accounts(address),
        state TEXT NOT NULL, PRIMARY KEY (child, parent));
      CREATE TABLE IF NOT EXISTS hc_managers (address TEXT PRIMARY KEY REFERENCES accounts(address));
    `);
    await this.db.tx(async (q) => {
      await q.lock('latch-embedded-ledger');
      const v = await q.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', 'schema');
      if (v === undefined) {
        await q.run('INSERT INTO meta (k, v) VALUES (?, ?)', 'schema', SCHEMA_VERSION);
        // A random genesis makes block ids and addresses differ between ledgers.
        const genesis = bytesToHex(sha3_256(concatBytes(new TextEncoder().encode('latch-embedded-ledger genesis'), randomBytes(32))));
        await q.run('INSERT INTO blocks (height, id, parent_id, created_at) VALUES (0, ?, ?, ?)', genesis, '0'.repeat(64), new Date().toISOString());
        await q.run('INSERT INTO meta (k, v) VALUES (?, ?)', 'account_counter', '0');
      } else if (v.v !== SCHEMA_VERSION) {
        throw err('ledger_version', `ledger file has schema version ${v.v}; this Latch understands ${SCHEMA_VERSION}`);
      }
    });
  }

  private async latest(q: SqlQueries): Promise<{ height: number; id: string }> {
    return (await q.get<{ height: number; id: string }>('SELECT height, id FROM blocks ORDER BY height DESC LIMIT 1'))!;
  }

  private async newBlock(q: SqlQueries, content: string): Promise<string> {
    const parent = await this.latest(q);
    const height = parent.height + 1;
    const id = bytesToHex(sha3_256(concatBytes(hexToBytes(parent.id), u64be(height), new TextEncoder().encode(content))));
    await q.run('INSERT INTO blocks (height, id, parent_id, created_at) VALUES (?, ?, ?, ?)', height, id, parent.id, new Date().toISOString());
    return id;
  }

  private async keys(q: SqlQueries, address: string): Promise<FlowAccountKey[]> {
    return (await q.all<KeyRow>('SELECT * FROM account_keys WHERE address = ? ORDER BY idx', address)).map(keyFromRow);
  }

  private async balanceUnits(q: SqlQueries, address: string): Promise<bigint | undefined> {
    const row = await q.get<{ balance: string }>('SELECT balance FROM accounts WHERE address = ?', address);
    return row === undefined ? undefined : BigInt(row.balance);
  }

  private async readAccount(q: SqlQueries, addressText: string): Promise<LedgerAccount> {
    const address = parseFlowAddress(addressText);
    const units = await this.balanceUnits(q, address);
    if (units === undefined) throw err('unknown_account', `no account ${address} on this ledger`, 404);
    return { address, balance: unitsToUFix64(units), keys: await this.keys(q, address) };
  }

  async getAccount(address: string): Promise<LedgerAccount> {
    // One transaction: the balance and the keys of one moment.
    return this.#ready.then(() => this.db.tx((q) => this.readAccount(q, address)));
  }

  async latestBlockId(): Promise<string> {
    return this.#read(async (q) => (await this.latest(q)).id);
  }

  async getLinks(address: string): Promise<AccountLinks> {
    return this.#ready.then(() => this.db.tx((q) => this.#links(q, address)));
  }

  async #links(q: SqlQueries, address: string): Promise<AccountLinks> {
    const a = (await this.readAccount(q, address)).address;
    const parents = await q.all('SELECT parent AS address, state FROM hc_links WHERE child = ? ORDER BY parent', a) as AccountLinks['parents'];
    const children = (await q.all("SELECT child FROM hc_links WHERE parent = ? AND state = 'redeemed' ORDER BY child", a) as { child: string }[]).map((r) => r.child);
    return { parents, children };
  }

  async createAccount(keys: NewFlowAccountKey[], initialBalance: string): Promise<string> {
    if (!Array.isArray(keys) || keys.length === 0) throw err('bad_key', 'an account needs at least one key');
    const clean = keys.map(normalizeNewKey);
    clean.forEach((k, i) => {
      const first = clean.findIndex((o) => o.publicKey === k.publicKey);
      if (first !== i) throw duplicateKey(first);
    });
    const balance = ufix64ToUnits(parseAmount(initialBalance));
    return this.#tx(async (q): Promise<string> => {
      const genesis = (await q.get('SELECT id FROM blocks WHERE height = 0') as { id: string }).id;
      let counter = Number((await q.get('SELECT v FROM meta WHERE k = ?', 'account_counter') as { v: string }).v);
      const reserved = new Set([...Object.values(CONTRACT_ADDRESSES.emulator), ...Object.values(HYBRID_CUSTODY_ADDRESSES.emulator)]);
      let address: string;
      do {
        counter += 1;
        const h = sha3_256(concatBytes(hexToBytes(genesis), new TextEncoder().encode('account'), u64be(counter)));
        address = '0x' + bytesToHex(h.subarray(0, 8));
      } while (reserved.has(address) || (await this.balanceUnits(q, address)) !== undefined);
      await q.run('UPDATE meta SET v = ? WHERE k = ?', String(counter), 'account_counter');
      const height = (await this.latest(q)).height + 1;
      await q.run('INSERT INTO accounts (address, balance, created_height) VALUES (?, ?, ?)', address, balance.toString(), height);
      const ins = 'INSERT INTO account_keys (address, idx, public_key, sign_algo, hash_algo, weight, sequence_number, revoked) VALUES (?, ?, ?, ?, ?, ?, 0, 0)';
      for (const [i, k] of clean.entries()) await q.run(ins, address, i, k.publicKey, k.signAlgo, k.hashAlgo, k.weight);
      await this.newBlock(q, `account:${address}`);
      return address;
    });
  }

  async sendTransaction(tx: FlowTransaction): Promise<SentTransaction> {
    return this.#tx((q) => this.apply(q, tx));
  }

  private async apply(q: SqlQueries, input: FlowTransaction): Promise<SentTransaction> {
    const tx = normalizeTransaction(input);
    const id = transactionId(tx);
    if (await q.get('SELECT 1 FROM transactions WHERE id = ?', id) !== undefined) {
      throw err('duplicate_transaction', `transaction ${id} was already sealed`, 409);
    }

    // Reference block: one we issued, not expired.
    const ref = await q.get('SELECT height FROM blocks WHERE id = ?', tx.referenceBlockId) as { height: number } | undefined;
    if (ref === undefined) throw err('unknown_reference_block', 'the reference block is not a block of this ledger');
    // flow-go access validator: expired when (latest height - reference height) > expiry.
    if ((await this.latest(q)).height - ref.height > REFERENCE_BLOCK_EXPIRY) {
      throw err('expired_reference_block', `the reference block is more than ${REFERENCE_BLOCK_EXPIRY} blocks old; build the transaction again`);
    }

    // Only Latch's templates run here.
    const call = parseTemplateCall(NETWORK, tx.script, tx.arguments);
    if (tx.authorizers.length !== 1) throw err('bad_authorizers', `the ${call.kind} template takes exactly one authorizer`);

    const keyOf = async (address: string, index: number): Promise<FlowAccountKey> => {
      const row = await q.get('SELECT * FROM account_keys WHERE address = ? AND idx = ?', address, index) as KeyRow | undefined;
      if (row === undefined) {
        if ((await this.balanceUnits(q, address)) === undefined) throw err('unknown_account', `no account ${address} on this ledger`, 404);
        throw err('unknown_key', `account ${address} has no key ${index}`);
      }
      return keyFromRow(row);
    };

    // Proposal key and its sequence number.
    const pk = await keyOf(tx.proposalKey.address, tx.proposalKey.keyIndex);
    if (pk.revoked) throw err('revoked_key', `proposal key ${tx.proposalKey.keyIndex} of ${tx.proposalKey.address} is revoked`);
    if (pk.sequenceNumber !== tx.proposalKey.sequenceNumber) {
      throw err(
        'bad_sequence_number',
        `proposal key sequence number is ${tx.proposalKey.sequenceNumber}, expected ${pk.sequenceNumber}`,
        409,
      );
    }

    // Who may sign what: the payer signs the envelope, everyone else the payload.
    for (const s of tx.payloadSignatures) {
      if (s.address === tx.payer) throw err('bad_signature', 'the payer signs the envelope, not the payload');
    }
    for (const s of tx.envelopeSignatures) {
      if (s.address !== tx.payer) throw err('bad_signature', `only the payer signs the envelope; ${s.address} is not the payer`);
    }

    // Every signature must verify; weights count each (account, key) once.
    const signed = new Map<string, Map<number, number>>();
    const check = async (sigs: FlowSignature[], message: Uint8Array, what: string): Promise<void> => {
      for (const s of sigs) {
        const key = await keyOf(s.address, s.keyIndex);
        if (key.revoked) throw err('revoked_key', `key ${s.keyIndex} of ${s.address} is revoked and cannot sign`, 403);
        if (!nodeEcdsa.verify(message, hexToBytes(s.signature), key.publicKey, key.signAlgo, key.hashAlgo)) {
          throw err('invalid_signature', `the ${what} signature by key ${s.keyIndex} of ${s.address} does not verify`, 403);
        }
        const m = signed.get(s.address) ?? new Map<number, number>();
        m.set(s.keyIndex, key.weight);
        signed.set(s.address, m);
      }
    };
    await check(tx.payloadSignatures, payloadMessage(tx), 'payload');
    await check(tx.envelopeSignatures, envelopeMessage(tx), 'envelope');
    const weight = (address: string): number => [...(signed.get(address)?.values() ?? [])].reduce((a, b) => a + b, 0);

    for (const a of tx.authorizers) {
      if (weight(a) < FULL_WEIGHT) {
        throw err('insufficient_weight', `authorizer ${a} signed with total key weight ${weight(a)}; ${FULL_WEIGHT} is needed`, 403);
      }
    }
    if (weight(tx.payer) < FULL_WEIGHT) {
      throw err('insufficient_weight', `the payer ${tx.payer} signed the envelope with total key weight ${weight(tx.payer)}; ${FULL_WEIGHT} is needed`, 403);
    }
    if (!signed.get(tx.proposalKey.address)?.has(tx.proposalKey.keyIndex)) {
      throw err('missing_proposer_signature', 'the proposal key did not sign the transaction', 403);
    }

    const events = await this.execute(q, call, tx.authorizers[0]!);
    await q.run('UPDATE account_keys SET sequence_number = sequence_number + 1 WHERE address = ? AND idx = ?', tx.proposalKey.address, tx.proposalKey.keyIndex);
    const blockId = await this.newBlock(q, `tx:${id}`);
    await q.run('INSERT INTO transactions (id, body, events, block_id) VALUES (?, ?, ?, ?)', id, JSON.stringify(tx), JSON.stringify(events), blockId);
    return { id, status: 'sealed', events };
  }

  /** FlowToken moves `amount` from `fromAddress` to `toText`. */
  private async move(q: SqlQueries, fromAddress: string, toText: string, amountText: string): Promise<LedgerEvent[]> {
    const amount = ufix64ToUnits(amountText);
    const to = parseFlowAddress(toText);
    const toBalance = await this.balanceUnits(q, to);
    if (toBalance === undefined) throw err('unknown_account', `the recipient ${to} has no account (no FlowToken receiver)`, 404);
    const from = (await this.balanceUnits(q, fromAddress))!;
    if (from < amount) throw err('insufficient_balance', `${fromAddress} has ${unitsToUFix64(from)} FLOW, less than ${amountText}`);
    const set = 'UPDATE accounts SET balance = ? WHERE address = ?';
    await q.run(set, (from - amount).toString(), fromAddress);
    await q.run(set, ((to === fromAddress ? from - amount : toBalance) + amount).toString(), to);
    return [
      { type: `A.${FLOW_TOKEN}.FlowToken.TokensWithdrawn`, values: { amount: amountText, from: fromAddress } },
      { type: `A.${FLOW_TOKEN}.FlowToken.TokensDeposited`, values: { amount: amountText, to } },
    ];
  }

  private async link(q: SqlQueries, child: string, parent: string): Promise<{ state: 'published' | 'redeemed' } | undefined> {
    return await q.get('SELECT state FROM hc_links WHERE child = ? AND parent = ?', child, parent) as { state: 'published' | 'redeemed' } | undefined;
  }

  private async execute(q: SqlQueries, call: TemplateCall, signer: string): Promise<LedgerEvent[]> {
    const hcEvent = (name: string, values: Record<string, string>): LedgerEvent => ({ type: `A.${HYBRID_CUSTODY}.HybridCustody.${name}`, values });
    switch (call.kind) {
      case 'transfer':
        return this.move(q, signer, call.to, call.amount);
      // Hybrid Custody (hybrid-custody-templates.ts), with what each script's panics and
      // asserts refuse. The signer's weight (>= 1000) was checked before, as for any template.
      case 'link': {
        // publishToParent: the parent must be an account; an account is not its own parent.
        if (call.parent === signer) throw err('self_link', `an account cannot be linked to itself (${signer})`);
        if ((await this.balanceUnits(q, call.parent)) === undefined) throw err('unknown_parent', `the parent ${call.parent} is not an account on this ledger`, 404);
        // Publishing again re-publishes the same capability: a redeemed link stays redeemed.
        await q.run("INSERT INTO hc_links (child, parent, state) VALUES (?, ?, 'published') ON CONFLICT (child, parent) DO NOTHING", signer, call.parent);
        return [hcEvent('ChildAccountPublished', { child: signer, parent: call.parent })];
      }
      case 'redeem': {
        // acct.inbox.claim(...) ?? panic("child account cap not found")
        if ((await this.link(q, call.child, signer))?.state !== 'published') {
          throw err('no_published_capability', `${call.child} has published no capability to ${signer} that is waiting to be redeemed`, 409);
        }
        await q.run("UPDATE hc_links SET state = 'redeemed' WHERE child = ? AND parent = ?", call.child, signer);
        await q.run('INSERT INTO hc_managers (address) VALUES (?) ON CONFLICT (address) DO NOTHING', signer);
        return [hcEvent('AccountUpdated', { child: call.child, parent: signer, active: 'true' })];
      }
      case 'child-transfer': {
        // m.borrowAccount(addr: child) ?? panic("child account not found"): only a redeemed,
        // still linked parent reaches the child's vault.
        if ((await this.link(q, call.child, signer))?.state !== 'redeemed') throw err('not_a_parent', `${signer} is not a linked parent of ${call.child}`, 403);
        return this.move(q, call.child, call.to, call.amount);
      }
      case 'unlink': {
        // owned.removeParent, then the assert that the parent's Manager no longer holds it:
        // borrowing that Manager panics when the parent never created one.
        if ((await this.link(q, signer, call.parent)) === undefined) throw err('not_linked', `${call.parent} is not a parent of ${signer}`, 409);
        if (await q.get('SELECT 1 FROM hc_managers WHERE address = ?', call.parent) === undefined) {
          throw err('parent_has_no_manager', `the Hybrid Custody unlink transaction needs ${call.parent} to hold a HybridCustody.Manager (it never redeemed a child)`, 409);
        }
        await q.run('DELETE FROM hc_links WHERE child = ? AND parent = ?', signer, call.parent);
        return [hcEvent('AccountUpdated', { child: signer, parent: call.parent, active: 'false' })];
      }
      case 'add-key': {
        const next = (await q.get('SELECT COUNT(*) AS n FROM account_keys WHERE address = ?', signer) as { n: number }).n;
        const k = call.key;
        const live = await q.get('SELECT idx FROM account_keys WHERE address = ? AND public_key = ? AND revoked = 0', signer, k.publicKey) as { idx: number } | undefined;
        if (live !== undefined) throw duplicateKey(live.idx);
        await q.run('INSERT INTO account_keys (address, idx, public_key, sign_algo, hash_algo, weight, sequence_number, revoked) VALUES (?, ?, ?, ?, ?, ?, 0, 0)', signer, next, k.publicKey, k.signAlgo, k.hashAlgo, k.weight);
        return [{ type: 'flow.AccountKeyAdded', values: { address: signer, keyIndex: String(next), publicKey: k.publicKey, weight: String(k.weight) } }];
      }
      case 'revoke-key': {
        const r = await q.run('UPDATE account_keys SET revoked = 1 WHERE address = ? AND idx = ?', signer, call.keyIndex);
        if (r.changes === 0) throw err('unknown_key', `account ${signer} has no key ${call.keyIndex}`);
        return [{ type: 'flow.AccountKeyRemoved', values: { address: signer, keyIndex: String(call.keyIndex) } }];
      }
    }
  }

  async getTransaction(id: string): Promise<LedgerTransactionRecord> {
    const clean = canonicalHex(id, 'transaction id', 32);
    await this.#ready;
    const q = this.db;
    const row = await q.get('SELECT body, events, block_id FROM transactions WHERE id = ?', clean) as
      | { body: string; events: string; block_id: string }
      | undefined;
    if (row === undefined) throw err('unknown_transaction', `no transaction ${clean} on this ledger`, 404);
    return { id: clean, status: 'sealed', events: JSON.parse(row.events) as LedgerEvent[], transaction: JSON.parse(row.body) as FlowTransaction, blockId: row.block_id };
  }

  async close(): Promise<void> {
    await this.#ready.catch(() => undefined);
    await this.db.close();
  }
}
