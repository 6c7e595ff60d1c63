/**
 * The ledger the custody part talks to: the embedded SQLite ledger by default, or a real
 * Flow network through its Access REST API. Both take the same signed Flow transactions.
 */
import type { FlowAccountKey, NewFlowAccountKey } from './flow/flow-account-key.js';
import type { FlowNetwork } from './flow/cadence-templates.js';
import type { FlowTransaction } from './flow/flow-transaction.js';

export interface LedgerAccount {
  /** "0x" + 16 lowercase hex digits. */
  address: string;
  /** FLOW balance as UFix64 text, e.g. "100.00000000". */
  balance: string;
  keys: FlowAccountKey[];
}

/** An event a sealed transaction emitted; values are strings for a stable JSON shape. */
export interface LedgerEvent {
  type: string;
  values: Record<string, string>;
}

export interface SentTransaction {
  id: string;
  status: 'sealed';
  events: LedgerEvent[];
}

export interface LedgerTransactionRecord extends SentTransaction {
  transaction: FlowTransaction;
  blockId: string;
}

/** Hybrid Custody links of an account (hybrid-custody-templates.ts). */
export interface AccountLinks {
  /** Accounts this one published a capability to; 'redeemed' once the parent claimed it. */
  parents: { address: string; state: 'published' | 'redeemed' }[];
  /** Accounts whose capability this one redeemed (its Manager's children). */
  children: string[];
}

export interface Ledger {
  readonly kind: 'embedded' | 'flow-access';
  /** Which contract addresses the templates must use on this ledger. */
  readonly network: FlowNetwork;
  /** Throws LatchError('unknown_account') when there is no such account. */
  getAccount(address: string): Promise<LedgerAccount>;
  /** Embedded ledger only: a new account with these keys (indices 0..n-1) and balance (UFix64). */
  createAccount(keys: NewFlowAccountKey[], initialBalance: string): Promise<string>;
  /**
   * Applies a signed transaction; resolves once sealed. Throws LatchError when refused or failed,
   * or, once the network has accepted it, when its outcome is not known (see sendOutcomeUnknown).
   */
  sendTransaction(tx: FlowTransaction): Promise<SentTransaction>;
  /** Throws LatchError('unknown_transaction') when the ledger has no such transaction. */
  getTransaction(id: string): Promise<LedgerTransactionRecord>;
  /** Hybrid Custody parents and children; throws LatchError('links_unavailable') where it cannot tell. */
  getLinks(address: string): Promise<AccountLinks>;
  /** A recent block id to use as a transaction's reference block. */
  latestBlockId(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Codes of a send that the network accepted but was not seen sealed (timeout, or the status poll
 * failed): the transaction may still seal and move funds, so what the caller recorded for it
 * (co-sign record, daily amount) must stay (issue 15 §2). Every other error is a refusal.
 */
export const SEND_OUTCOME_UNKNOWN = ['seal_timeout', 'transaction_unconfirmed'] as const;

export function sendOutcomeUnknown(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (SEND_OUTCOME_UNKNOWN as readonly string[]).includes(code);
}
