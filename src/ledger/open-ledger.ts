/**
 * `--ledger embedded|flow-testnet|flow-mainnet|URL` -> a Ledger. The embedded ledger is the
 * default and keeps its SQLite file in the server's data dir, or its tables in `store` (the
 * PostgreSQL database of `--custody-db`, shared by every node).
 *
 * Test only: LATCH_TEST_LEDGER_DELAY_MS=N wraps the embedded ledger in SlowTestLedger (every
 * send waits N ms, like Flow sealing) so tests can show check-then-act races; `log` says so.
 * LATCH_TEST_LEDGER_SEAL_TIMEOUT=1 with it: every send is applied, then answers `seal_timeout`.
 * LATCH_TEST_LEDGER_READ_DELAY_MS=N with it: every account read waits N ms too.
 */
import { EmbeddedLedger } from './embedded-ledger.js';
import { FlowAccessLedger, flowAccessOptions } from './flow-access-ledger.js';
import { SlowTestLedger } from './slow-test-ledger.js';
import type { FlowNetwork } from './flow/cadence-templates.js';
import type { Ledger } from './ledger.js';
import { LatchError } from '../util/latch-error.js';
import type { CustodyDb } from '../custody/custody-db.js';

export function openLedger(spec: string | undefined, opts: { dataDir: string; network?: FlowNetwork; log?: (line: string) => void; store?: CustodyDb }): Ledger {
  if (spec === undefined || spec === 'embedded') {
    const embedded = opts.store !== undefined ? new EmbeddedLedger(opts.store) : EmbeddedLedger.open(opts.dataDir);
    const delay = process.env.LATCH_TEST_LEDGER_DELAY_MS;
    if (delay === undefined || delay === '') return embedded;
    if (!/^[0-9]{1,5}$/.test(delay)) throw new LatchError('bad_test_ledger', 'LATCH_TEST_LEDGER_DELAY_MS must be a whole number of milliseconds');
    const sealTimeout = process.env.LATCH_TEST_LEDGER_SEAL_TIMEOUT === '1';
    const read = process.env.LATCH_TEST_LEDGER_READ_DELAY_MS ?? '0';
    if (!/^[0-9]{1,5}$/.test(read)) throw new LatchError('bad_test_ledger', 'LATCH_TEST_LEDGER_READ_DELAY_MS must be a whole number of milliseconds');
    opts.log?.(`TEST ONLY: LATCH_TEST_LEDGER_DELAY_MS is set; every ledger send waits ${delay} ms (slow test ledger)${sealTimeout ? ', then answers seal_timeout' : ''}${read !== '0' ? `; every account read ${read} ms` : ''}`);
    return new SlowTestLedger(embedded, Number(delay), sealTimeout, Number(read));
  }
  return new FlowAccessLedger(flowAccessOptions(spec, opts.network));
}
