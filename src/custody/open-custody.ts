/**
 * Builds the custody service for `latch server` from its flags: the ledger, the master key
 * (KMS-shaped vault), the mailer of the development issuer, the policy limits.
 */
import { join } from 'node:path';
import { sodiumReady } from '../protocol/sodium.js';
import { openLedger } from '../ledger/open-ledger.js';
import { LocalMasterKey, type KeyVault } from './master-key.js';
import { outboxMailer, type Mailer } from './dev-issuer.js';
import { createCustody, type Custody } from './custody-http.js';
import type { OidcIssuerConfig } from './token-service.js';
import type { LocalDelivery } from './notice-sender.js';
import { PostgresCustodyDb } from './postgres-custody-db.js';
import { CUSTODY_SCHEMA, LEDGER_SCHEMA, redactedDbUrl } from './custody-db-url.js';

export const DEFAULT_RECOVERY_DELAY_SECONDS = 48 * 3600;

export interface CustodyServerOptions {
  /** embedded (default) | flow-testnet | flow-mainnet | URL */
  ledger?: string;
  recoveryDelaySeconds?: number;
  maxPerTransaction?: string;
  dailyLimit?: string;
  oidcIssuers?: OidcIssuerConfig[];
  accessTtlSeconds?: number;
  mailer?: Mailer;
  vault?: KeyVault;
  /** `--inbox-relay`: remote relays (besides our own) that notices may be sent to. */
  inboxRelays?: string[];
  /** `--custody-db` / LATCH_CUSTODY_DB: all custody state (and the embedded ledger) in this PostgreSQL database. */
  custodyDb?: string;
}

export async function openCustody(opts: CustodyServerOptions & { dataDir: string; log: (line: string) => void; publicUrl: () => string; deliverLocal?: LocalDelivery }): Promise<Custody> {
  const sodium = await sodiumReady();
  const dataDir = join(opts.dataDir, 'custody');
  let db: PostgresCustodyDb | undefined;
  let ledgerDb: PostgresCustodyDb | undefined;
  if (opts.custodyDb !== undefined) {
    db = await PostgresCustodyDb.open(opts.custodyDb, CUSTODY_SCHEMA, opts.log);
    if (opts.ledger === undefined || opts.ledger === 'embedded') ledgerDb = await PostgresCustodyDb.open(opts.custodyDb, LEDGER_SCHEMA, opts.log);
    opts.log(`custody state in PostgreSQL at ${redactedDbUrl(opts.custodyDb)} (schema ${CUSTODY_SCHEMA}${ledgerDb ? `, embedded ledger in ${LEDGER_SCHEMA}` : ''})`);
  }
  return createCustody({
    dataDir,
    ...(db !== undefined ? { db } : {}),
    ledger: openLedger(opts.ledger, { dataDir, log: opts.log, ...(ledgerDb !== undefined ? { store: ledgerDb } : {}) }),
    vault: opts.vault ?? LocalMasterKey.open(sodium, opts.dataDir),
    sodium,
    mailer: opts.mailer ?? outboxMailer(opts.dataDir, opts.log),
    log: opts.log,
    publicUrl: opts.publicUrl,
    recoveryDelaySeconds: opts.recoveryDelaySeconds ?? DEFAULT_RECOVERY_DELAY_SECONDS,
    ...(opts.maxPerTransaction !== undefined ? { maxPerTransaction: opts.maxPerTransaction } : {}),
    ...(opts.dailyLimit !== undefined ? { dailyLimit: opts.dailyLimit } : {}),
    ...(opts.oidcIssuers !== undefined ? { oidcIssuers: opts.oidcIssuers } : {}),
    ...(opts.accessTtlSeconds !== undefined ? { accessTtlSeconds: opts.accessTtlSeconds } : {}),
    ...(opts.inboxRelays !== undefined ? { inboxRelays: opts.inboxRelays } : {}),
    ...(opts.deliverLocal !== undefined ? { deliverLocal: opts.deliverLocal } : {}),
  });
}
