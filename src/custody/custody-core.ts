/**
 * What the custody flows share (issue 15: custody-service.ts split along its flows): the options,
 * stored row and wire view types, and `CustodyCore`, the service's own checks and records that
 * the join, signature-request and recovery flows (custody-joins.ts, custody-sign-requests.ts,
 * custody-recovery.ts) call. CustodyService (custody-service.ts) implements it and is the one
 * entry point of the HTTP layer.
 */
import { randomBytes } from 'node:crypto';
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { AccountLinks, Ledger, LedgerEvent, SentTransaction } from '../ledger/ledger.js';
import type { FlowAccountKey } from '../ledger/flow/flow-account-key.js';
import type { TemplateCall } from '../ledger/flow/cadence-templates.js';
import type { FlowTransaction } from '../ledger/flow/flow-transaction.js';
import type { RestAccountKey, RestTransaction } from '../ledger/flow/flow-rest-shape.js';
import type { AuditEntry } from './audit-log.js';
import type { CustodyDb, SqlQueries } from './custody-db.js';
import type { Mailer } from './dev-issuer.js';
import type { Caller, OidcIssuerConfig, TokenService } from './token-service.js';
import type { LocalDelivery } from './notice-sender.js';
import type { KeyVault } from './master-key.js';
import type { AccountLocks } from './account-lock.js';
import type { DeviceNotice, KeyRole, TokenPair } from './custody-api.js';

export interface CustodyOptions {
  dataDir: string;
  /** The shared PostgreSQL store (`--custody-db`); without it, DATA/custody/custody.sqlite. */
  db?: CustodyDb;
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
  /** Hybrid Custody links (custody-links.ts); `links_known` false where the ledger cannot tell. */
  parents: AccountLinks['parents'];
  children: AccountLinks['children'];
  links_known: boolean;
}

export interface SentView {
  id: string;
  transaction: RestTransaction;
  status: string;
}

export interface Checked {
  tx: FlowTransaction;
  call: TemplateCall;
  digest: string;
  signers: number[];
}

export interface AccountRow {
  address: string;
  owner: string;
  server_key_index: number;
  server_key: string;
  server_public_key: string;
  self_custody: number;
}

export interface RecoveryRow {
  id: string;
  address: string;
  email: string;
  device_public_key: string;
  device_name: string;
  ready_at: number;
  status: 'pending' | 'completed' | 'cancelled';
  key_index: number | null;
  /**
   * 'device': a recovery adds a new device key; 'recovery-key': device + server add a recovery key;
   * 'link': device + server link a parent (then `device_public_key` holds the parent's address).
   */
  kind: 'device' | 'recovery-key' | 'link';
}

export function fail(code: string, message: string, status = 400): never {
  throw new LatchError(code, message, { status });
}

/**
 * An id of a join, a recovery or a sign request: 16 random bytes, base64url. People paste these
 * into command lines (`latch account recover --cancel ID`), where an argument that begins with
 * "-" reads as an option, and one base64url id in 64 would; so such a draw is drawn again (the
 * ids keep 128 - log2(64/63) ≈ 127.98 bits). Ids stored before this rule may still begin with
 * "-"; `--cancel=ID` takes them.
 */
export function newId(): string {
  for (;;) {
    const id = encodeBase64url(randomBytes(16));
    if (id[0] !== '-') return id;
  }
}

export type RecoveryView = { recovery_id: string; status: 'pending' | 'completed'; ready_at: number; key_index?: number; id?: string; transaction?: RestTransaction } & Partial<TokenPair>;

export function dayOf(unix: number): string {
  return new Date(unix * 1000).toISOString().slice(0, 10);
}

export function parseName(v: unknown): string {
  if (typeof v !== 'string' || !/^[\p{L}\p{N} ._'-]{1,64}$/u.test(v)) fail('bad_name', 'device_name must be 1-64 letters, digits, spaces or ._\'-');
  return v;
}

/** The service's checks and records, as the flows see them (see CustodyService for each). */
export interface CustodyCore {
  readonly db: CustodyDb;
  readonly opts: CustodyOptions;
  readonly tokens: TokenService;
  readonly locks: AccountLocks;
  now(): number;
  audit(e: AuditEntry, q?: SqlQueries): Promise<void>;
  decideLocked<T>(account: string, action: string, detail: Record<string, unknown>, fn: () => Promise<T>): Promise<T>;
  account(address: string): Promise<AccountRow>;
  forAccount(caller: Caller, addressText: unknown): Promise<AccountRow>;
  check(row: AccountRow, txJson: unknown, keys: FlowAccountKey[], allowedSigners: KeyRole[]): Promise<Checked>;
  checkLimits(row: AccountRow, call: TemplateCall): Promise<void>;
  cosignAndSend(row: AccountRow, checked: Checked, action: string): Promise<SentView & { events: LedgerEvent[] }>;
  reserveAndSend(address: string, digest: string, call: TemplateCall, signed: FlowTransaction): Promise<SentTransaction>;
  recordKey(address: string, events: LedgerEvent[], role: KeyRole, publicKey: string, name: string | null): Promise<number>;
  /** Records a revocation the ledger applied and tells every device, the revoked one too (`by`: the device that asked). */
  markRevoked(row: AccountRow, idx: number, by: string): Promise<void>;
  notify(address: string, notice: DeviceNotice, except?: string): Promise<{ all: boolean; told: number; missed: number }>;
  /** Device + server linking `parent`: every device told, a second one needed, the delay (custody-service.ts #changeGate). */
  linkGate(row: AccountRow, caller: Caller, parent: string): Promise<string>;
}
