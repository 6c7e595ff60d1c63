/** `latch server` flags of the custody part (issue 4). */
import { usageError } from '../cli-context.js';
import type { CustodyServerOptions } from '../../custody/open-custody.js';
import { parseAmount } from '../../ledger/flow/json-cadence.js';
import { canonicalRelayUrl } from '../../custody/relay-allow-list.js';
import { custodyDbUrl } from '../../custody/custody-db-url.js';

export const CUSTODY_FLAGS = {
  ledger: { type: 'string' },
  'recovery-delay': { type: 'string' },
  'tx-limit': { type: 'string' },
  'daily-limit': { type: 'string' },
  'oidc-issuer': { type: 'string', multiple: true },
  'no-custody': { type: 'boolean' },
  'inbox-relay': { type: 'string', multiple: true },
  'custody-db': { type: 'string' },
} as const;

export function custodyOptionsFrom(values: Record<string, unknown>, usage: string): CustodyServerOptions | false {
  if (values['no-custody'] === true) return false;
  const out: CustodyServerOptions = {};
  const ledger = values.ledger as string | undefined;
  if (ledger !== undefined) {
    if (!/^(embedded|flow-testnet|flow-mainnet|https?:\/\/\S+)$/.test(ledger)) throw usageError('--ledger must be embedded, flow-testnet, flow-mainnet or an http(s) URL', usage);
    out.ledger = ledger;
  }
  const delay = values['recovery-delay'] as string | undefined;
  if (delay !== undefined) {
    // 0 is allowed for local use (issue 4).
    if (!/^[0-9]{1,8}$/.test(delay)) throw usageError('--recovery-delay must be a whole number of seconds (0 or more)', usage);
    out.recoveryDelaySeconds = Number(delay);
  }
  for (const [flag, key] of [['tx-limit', 'maxPerTransaction'], ['daily-limit', 'dailyLimit']] as const) {
    const v = values[flag] as string | undefined;
    if (v === undefined) continue;
    try {
      out[key] = parseAmount(v);
    } catch {
      throw usageError(`--${flag} must be an amount of FLOW like 100 or 12.5`, usage);
    }
  }
  const issuers = (values['oidc-issuer'] as string[] | undefined) ?? [];
  if (issuers.length > 0) {
    out.oidcIssuers = issuers.map((s) => {
      const m = /^(https?:\/\/[^=\s]+)=([^\s]+)$/.exec(s);
      if (!m) throw usageError('--oidc-issuer must be ISSUER_URL=AUDIENCE', usage);
      return { issuer: m[1]!, audience: m[2]! };
    });
  }
  const relays = (values['inbox-relay'] as string[] | undefined) ?? [];
  for (const r of relays) {
    try {
      canonicalRelayUrl(r);
    } catch {
      throw usageError(`--inbox-relay must be a plain http(s) URL, got "${r}"`, usage);
    }
  }
  if (relays.length > 0) out.inboxRelays = relays;
  let db: string | undefined;
  try {
    db = custodyDbUrl(values['custody-db'] as string | undefined);
  } catch (e) {
    throw usageError((e as Error).message, usage);
  }
  if (db !== undefined) out.custodyDb = db;
  return out;
}
