/**
 * Account linking (issue 13; docs/CUSTODY.md "Account linking"): Flow's Hybrid Custody, where
 * the Latch account (the child) publishes a capability on itself to a wallet the user owns (the
 * parent), the parent redeems it, and from then on moves the child's funds by its own signature.
 *
 * - link / unlink are the child's: its device key signs and the server co-signs (two of three).
 *   A link goes through the recovery-key gate first (custody-service.ts #changeGate): every
 *   device told, a second live device needed, and the recovery delay with a cancel id.
 *   Each request names the parent, and the server co-signs only a transaction whose parent is
 *   that one: a link transaction replayed under another parent's request is refused
 *   (`parent_mismatch`), and the plain co-sign route refuses links altogether.
 * - redeem and child-transfer are the parent's: signed by the parent's own key(s) alone; the
 *   server only forwards them to the ledger (and audits them). No device, no co-sign, no limits.
 * - A self-custody parent is made by `createSelfCustodyAccount` (embedded ledger only): one key of
 *   weight 1000 that the user holds in a key file.
 */
import { LatchError } from '../util/latch-error.js';
import { parseTemplateCall, signerRole, type FlowNetwork, type TemplateCall } from '../ledger/flow/cadence-templates.js';
import { FULL_WEIGHT, HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256, SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1, parsePublicKey, type FlowHashAlgo, type FlowSignAlgo } from '../ledger/flow/flow-account-key.js';
import { normalizeTransaction, parseFlowAddress } from '../ledger/flow/flow-transaction.js';
import { fromRestTransaction, toRestAccountKey, toRestTransaction, type RestAccountKey } from '../ledger/flow/flow-rest-shape.js';
import type { AccountLinks, Ledger } from '../ledger/ledger.js';
import type { Caller } from './token-service.js';
import { fail, type AccountRow, type CustodyCore, type SentView } from './custody-core.js';
import { keyFingerprint } from './key-fingerprint.js';

/** The ledger's signature and key refusals, answered alike on the route that takes no token. */
const PARENT_SIGNATURE_FAILURES: ReadonlySet<string> = new Set(['invalid_signature', 'unknown_key', 'revoked_key', 'insufficient_weight', 'bad_signature', 'missing_proposer_signature']);
/** Any account of the ledger, as the parent side sees it (no custody roles). */
export interface LedgerAccountView extends AccountLinks {
  address: string;
  balance: string;
  keys: RestAccountKey[];
  reference_block_id: string;
  ledger: 'embedded' | 'flow-access';
  links_known: boolean;
}

export interface LinkView {
  parent: string;
  /** 'published' until the parent redeems; what the ledger holds now when `already`. */
  state: 'published' | 'redeemed' | 'unlinked';
  /** Linking twice is idempotent: nothing was sent the second time. */
  already: boolean;
  id?: string;
  transaction?: SentView['transaction'];
  status?: string;
}

const SIGN_BY_NAME: Record<string, FlowSignAlgo> = { ECDSA_P256: SIGN_ALGO_ECDSA_P256, ECDSA_secp256k1: SIGN_ALGO_ECDSA_SECP256K1 };
const HASH_BY_NAME: Record<string, FlowHashAlgo> = { SHA2_256: HASH_ALGO_SHA2_256, SHA3_256: HASH_ALGO_SHA3_256 };

function parseAddress(v: unknown, what: string): string {
  if (typeof v !== 'string') fail('bad_address', `${what} must be a Flow address`);
  try {
    return parseFlowAddress(v);
  } catch {
    fail('bad_address', `${what} must be a Flow address (0x + 16 hex digits)`);
  }
}

/** `parents` / `children` of an account view; `links_known: false` where the ledger cannot tell. */
export async function linksOf(ledger: Ledger, address: string): Promise<AccountLinks & { links_known: boolean }> {
  try {
    return { ...(await ledger.getLinks(address)), links_known: true };
  } catch (e) {
    if (e instanceof LatchError && e.code === 'links_unavailable') return { parents: [], children: [], links_known: false };
    throw e;
  }
}

/** The call a transaction makes, read before any signature or replay check (bad_transaction otherwise). */
export function peekCall(network: FlowNetwork, txJson: unknown): { call: TemplateCall; payer: string } {
  try {
    const tx = normalizeTransaction(fromRestTransaction(txJson));
    return { call: parseTemplateCall(network, tx.script, tx.arguments), payer: tx.payer };
  } catch (e) {
    if (e instanceof LatchError && e.code === 'unknown_script') throw e;
    if (e instanceof LatchError) fail('bad_transaction', `transaction: ${e.message}`);
    throw e;
  }
}

/**
 * The checks every link / unlink passes, whoever adds the second signature (the server's
 * co-sign here, or another device's through a signature request after self-custody,
 * custody-sign-requests.ts): a link's parent exists (`unknown_parent`) and is not the account
 * itself (`self_link`); an unlink's parent is linked (`not_linked`). A link to a parent already
 * linked returns the idempotent answer (nothing to send).
 */
export async function linkChecks(c: CustodyCore, kind: 'link' | 'unlink', row: AccountRow, parent: string, device: string): Promise<LinkView | undefined> {
  const parents = async () => (await c.opts.ledger.getLinks(row.address)).parents;
  if (kind === 'unlink') {
    if (!(await parents()).some((p) => p.address === parent)) fail('not_linked', `${parent} is not a parent of ${row.address}`, 409);
    return undefined;
  }
  if (parent === row.address) fail('self_link', 'an account cannot be linked to itself');
  try {
    await c.opts.ledger.getAccount(parent);
  } catch (e) {
    if (e instanceof LatchError && e.code === 'unknown_account') fail('unknown_parent', `there is no account ${parent} on this ledger to link to`, 404);
    throw e;
  }
  const existing = (await parents()).find((p) => p.address === parent);
  if (existing) await c.audit({ account: row.address, action: 'link', decision: 'info', detail: { parent, already: existing.state, device } });
  return existing && { parent, state: existing.state, already: true };
}

export class LinkFlow {
  constructor(private readonly c: CustodyCore) {}

  #peek(txJson: unknown): { call: TemplateCall; payer: string } {
    return peekCall(this.c.opts.ledger.network, txJson);
  }


  /** The child's device signed a link to `body.parent`; the server checks and co-signs it. */
  async link(caller: Caller, address: unknown, body: { parent: unknown; transaction: unknown }): Promise<LinkView> {
    return this.#change('link', caller, address, body);
  }

  /** The child's device signed an unlink of `body.parent`; the parent loses access at once. */
  async unlink(caller: Caller, address: unknown, body: { parent: unknown; transaction: unknown }): Promise<LinkView> {
    return this.#change('unlink', caller, address, body);
  }

  /**
   * Both changes: the transaction must be of that kind and for the parent this request names
   * (checked before anything else, replay included, so a link replayed under another parent's
   * request is `parent_mismatch`); then the device's signature; then `linkChecks` refuses, or
   * answers without sending (idempotent link).
   */
  async #change(
    kind: 'link' | 'unlink',
    caller: Caller,
    address: unknown,
    body: { parent: unknown; transaction: unknown },
  ): Promise<LinkView> {
    const row = await this.c.forAccount(caller, address);
    const parent = parseAddress(body.parent, 'parent');
    return this.c.decideLocked(row.address, kind, { device: caller.device, parent }, async () => {
      const { call } = this.#peek(body.transaction);
      if (call.kind !== kind) fail('bad_transaction', `expected a ${kind} transaction, got ${call.kind}`);
      if (call.parent !== parent) fail('parent_mismatch', `the transaction ${kind}s ${call.parent}, not the parent named in this request (${parent})`, 403);
      // The device's signature first (check() reserves nothing; the replay record is made at
      // send): without it, self_link / unknown_parent / not_linked / already would answer
      // questions about the account to a token alone.
      const keys = (await this.c.opts.ledger.getAccount(row.address)).keys;
      const checked = await this.c.check(row, body.transaction, keys, ['device']);
      const early = await linkChecks(this.c, kind, row, parent, caller.device);
      if (early) return early;
      // A link hands everything to the parent, so the device key and a token alone must not make
      // one at once (issue 15's rule: one key alone never reaches the threshold): the same gate
      // as replacing the recovery key (every device told, a second live device, the delay). An
      // unlink only takes access away, so it goes through at once.
      const change = kind === 'link' ? await this.c.linkGate(row, caller, parent) : undefined;
      const out = await this.c.cosignAndSend(row, checked, kind);
      if (change) await this.c.db.run("UPDATE recoveries SET status = 'completed' WHERE id = ?", change);
      await this.c.audit({ account: row.address, action: kind, decision: 'accepted', detail: { parent, tx: out.id, device: caller.device } });
      return { parent, state: kind === 'link' ? 'published' : 'unlinked', already: false, id: out.id, transaction: out.transaction, status: out.status };
    });
  }

  /** Any account of the ledger: keys, balance and links (public chain state on Flow too). */
  async ledgerAccount(address: unknown): Promise<LedgerAccountView> {
    const a = parseAddress(address, 'address');
    const acct = await this.c.opts.ledger.getAccount(a);
    return {
      address: acct.address,
      balance: acct.balance,
      keys: acct.keys.map(toRestAccountKey),
      reference_block_id: await this.c.opts.ledger.latestBlockId(),
      ledger: this.c.opts.ledger.kind,
      ...(await linksOf(this.c.opts.ledger, acct.address)),
    };
  }

  /**
   * A parent's own transaction (redeem, child-transfer), signed by the parent alone: forwarded
   * as it is, the server adds nothing; the ledger decides (a parent that is not, or no longer,
   * linked is refused there). Audited under the child's address.
   */
  async submitAsParent(body: { transaction: unknown }): Promise<SentView> {
    const { call, payer } = this.#peek(body.transaction);
    if (signerRole(call.kind) !== 'parent') fail('bad_transaction', `only a parent's redeem or child-transfer is forwarded here, not a ${call.kind}`);
    const child = call.kind === 'redeem' || call.kind === 'child-transfer' ? call.child : payer;
    const detail = { parent: payer, ...(call.kind === 'child-transfer' ? { amount: call.amount, to: call.to } : {}) };
    const tx = normalizeTransaction(fromRestTransaction(body.transaction));
    if (tx.authorizers.length !== 1 || tx.authorizers[0] !== payer || tx.proposalKey.address !== payer) fail('bad_transaction', 'the parent must be proposer, payer and only authorizer');
    return this.c.locks.run(child, async () => {
      let sent;
      try {
        sent = await this.c.opts.ledger.sendTransaction(tx);
      } catch (e) {
        // This route takes no token: refusals are audited only for an account this server holds,
        // so a stranger cannot fill the audit log with rows about addresses of his choosing.
        const ours = await this.c.db.get('SELECT 1 FROM accounts WHERE address = ?', child) !== undefined;
        if (ours && e instanceof LatchError) await this.c.audit({ account: child, action: call.kind, decision: 'refused', detail: { ...detail, code: e.code, reason: e.message } });
        // A caller without a token learns one answer for every signature or key failure; which
        // one goes to the local log only (the project's rule for crypto and auth failures).
        if (e instanceof LatchError && PARENT_SIGNATURE_FAILURES.has(e.code)) {
          this.c.opts.log(`parent ${call.kind} for ${child} refused by the ledger: ${e.code}: ${e.message}`);
          throw new LatchError('parent_signature_refused', "the ledger did not accept the parent's signature for this transaction", { status: 403 });
        }
        throw e;
      }
      await this.c.audit({ account: child, action: call.kind, decision: 'accepted', detail: { ...detail, tx: sent.id } });
      return { id: sent.id, transaction: toRestTransaction(tx), status: sent.status };
    });
  }

  /** A parent account held by one key of weight 1000 (embedded ledger only). */
  async createSelfCustodyAccount(caller: Caller, body: { public_key: unknown; signature_algorithm: unknown; hash_algorithm: unknown }): Promise<{ address: string }> {
    const signAlgo = typeof body.signature_algorithm === 'string' ? SIGN_BY_NAME[body.signature_algorithm] : undefined;
    const hashAlgo = typeof body.hash_algorithm === 'string' ? HASH_BY_NAME[body.hash_algorithm] : undefined;
    if (signAlgo === undefined) fail('bad_key', 'signature_algorithm must be ECDSA_P256 or ECDSA_secp256k1');
    if (hashAlgo === undefined) fail('bad_key', 'hash_algorithm must be SHA2_256 or SHA3_256');
    if (typeof body.public_key !== 'string') fail('bad_key', 'public_key must be 128 hex digits');
    let publicKey: string;
    try {
      publicKey = parsePublicKey(body.public_key, signAlgo);
    } catch {
      fail('bad_key', 'public_key is not a point of that curve');
    }
    if (this.c.opts.ledger.kind !== 'embedded') fail('not_supported', 'on a Flow network, create the parent account with your wallet and use its key file');
    const address = await this.c.opts.ledger.createAccount([{ publicKey, signAlgo, hashAlgo, weight: FULL_WEIGHT }], this.c.opts.startingBalance ?? '1000.00000000');
    await this.c.audit({ account: address, action: 'create-self-custody-account', decision: 'accepted', detail: { email: caller.email, key: keyFingerprint(publicKey) } });
    return { address };
  }
}
