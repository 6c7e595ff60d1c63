/**
 * `--ledger embedded|flow-testnet|flow-mainnet|URL` -> a Ledger. The embedded ledger is the
 * default and keeps its SQLite file in the server's data dir.
 *
 * Test only: LATCH_TEST_LEDGER_DELAY_MS=N wraps the embedded ledger in SlowTestLedger (every
 * send waits N ms, like Flow sealing) so tests can show check-then-act races; `log` says so.
 */
import { EmbeddedLedger } from './embedded-ledger.js';
import { FlowAccessLedger, flowAccessOptions } from './flow-access-ledger.js';
import { SlowTestLedger } from './slow-test-ledger.js';
import type { FlowNetwork } from './flow/cadence-templates.js';
import type { Ledger } from './ledger.js';
import { LatchError } from '../util/latch-error.js';

export function openLedger(spec: string | undefined, opts: { dataDir: string; network?: FlowNetwork; log?: (line: string) => void }): Ledger {
  if (spec === undefined || spec === 'embedded') {
    const embedded = EmbeddedLedger.open(opts.dataDir);
    const delay = process.env.LATCH_TEST_LEDGER_DELAY_MS;
    if (delay === undefined || delay === '') return embedded;
    if (!/^[0-9]{1,5}$/.test(delay)) throw new LatchError('bad_test_ledger', 'LATCH_TEST_LEDGER_DELAY_MS must be a whole number of milliseconds');
    opts.log?.(`TEST ONLY: LATCH_TEST_LEDGER_DELAY_MS is set; every ledger send waits ${delay} ms (slow test ledger)`);
    return new SlowTestLedger(embedded, Number(delay));
  }
  return new FlowAccessLedger(flowAccessOptions(spec, opts.network));
}
