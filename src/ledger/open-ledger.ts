/**
 * `--ledger embedded|flow-testnet|flow-mainnet|URL` -> a Ledger. The embedded ledger is the
 * default and keeps its SQLite file in the server's data dir.
 */
import { EmbeddedLedger } from './embedded-ledger.js';
import { FlowAccessLedger, flowAccessOptions } from './flow-access-ledger.js';
import type { FlowNetwork } from './flow/cadence-templates.js';
import type { Ledger } from './ledger.js';

export function openLedger(spec: string | undefined, opts: { dataDir: string; network?: FlowNetwork }): Ledger {
  if (spec === undefined || spec === 'embedded') return EmbeddedLedger.open(opts.dataDir);
  return new FlowAccessLedger(flowAccessOptions(spec, opts.network));
}
