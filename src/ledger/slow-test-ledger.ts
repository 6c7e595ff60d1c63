/**
 * TEST ADAPTER, not for use: the embedded ledger with every send held back for a while before it
 * is applied, as a real Flow network takes about a second from submission to sealing. With the
 * embedded ledger alone a send finishes within one tick, so check-then-act races in the custody
 * server (issue 15 §2: two requests both pass a check before either records its result) never
 * show; behind this adapter they do. Chosen only by the environment variable
 * LATCH_TEST_LEDGER_DELAY_MS (open-ledger.ts), never by a flag, and the server says so loudly.
 *
 * With `sealTimeout` (LATCH_TEST_LEDGER_SEAL_TIMEOUT=1) every send is applied and then answered
 * with `seal_timeout`, as FlowAccessLedger answers when a transaction the network accepted is not
 * seen sealed within its wait: the caller cannot tell whether the funds moved (they did).
 *
 * With `readDelayMs` (LATCH_TEST_LEDGER_READ_DELAY_MS) account reads wait too, as a Flow Access
 * node's answer does. The co-sign reads the account's keys between its limit check and its
 * record, so requests on two server nodes sharing one database (issue 10) overlap exactly there,
 * which only the database's account lock keeps apart.
 */
import { LatchError } from '../util/latch-error.js';
import type { Ledger, LedgerAccount, LedgerTransactionRecord, SentTransaction } from './ledger.js';
import type { NewFlowAccountKey } from './flow/flow-account-key.js';
import type { FlowTransaction } from './flow/flow-transaction.js';

export class SlowTestLedger implements Ledger {
  readonly kind: Ledger['kind'];
  readonly network: Ledger['network'];

  constructor(
    private readonly inner: Ledger,
    private readonly delayMs: number,
    private readonly sealTimeout = false,
    private readonly readDelayMs = 0,
  ) {
    this.kind = inner.kind;
    this.network = inner.network;
  }

  async sendTransaction(tx: FlowTransaction): Promise<SentTransaction> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    const sent = await this.inner.sendTransaction(tx);
    if (this.sealTimeout) throw new LatchError('seal_timeout', `transaction ${sent.id} was not sealed in time; look it up later by id`, { status: 504 });
    return sent;
  }

  async getAccount(address: string): Promise<LedgerAccount> {
    if (this.readDelayMs > 0) await new Promise((r) => setTimeout(r, this.readDelayMs));
    return this.inner.getAccount(address);
  }

  createAccount(keys: NewFlowAccountKey[], initialBalance: string): Promise<string> {
    return this.inner.createAccount(keys, initialBalance);
  }

  getTransaction(id: string): Promise<LedgerTransactionRecord> {
    return this.inner.getTransaction(id);
  }

  getLinks(address: string): ReturnType<Ledger['getLinks']> {
    return this.inner.getLinks(address);
  }

  latestBlockId(): Promise<string> {
    return this.inner.latestBlockId();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
