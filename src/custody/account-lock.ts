import { KeyedQueue } from '../util/keyed-queue.js';
import type { CustodyDb } from './custody-db.js';

/**
 * One decision at a time per account (issue 15 §2). The co-signing checks (daily limit, replay
 * record, join and recovery status) read the database, then `await ledger.sendTransaction()`,
 * which on Flow takes seconds to seal, then write. Two requests for one account interleaved in
 * that gap both passed the same check (three co-signs spent 500 against a limit of 300; one join
 * added its key twice). Every flow that checks account state and then sends runs inside
 * `run(address, …)`, which waits for the account's previous decision to settle, so the second
 * request reads what the first one wrote.
 *
 * Within one process an in-process queue orders them. Several server processes sharing one
 * PostgreSQL database (issue 10) also take the database's lock on the account for the whole
 * decision (CustodyDb.exclusive: a session advisory lock), so two nodes co-signing for one
 * account at once cannot both spend the same daily limit. On SQLite, with its one writer
 * process, the queue is the whole lock.
 */
export class AccountLocks {
  readonly #queue = new KeyedQueue();
  constructor(private readonly db: CustodyDb) {}

  run<T>(account: string, fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(account, () => this.db.exclusive(`latch-account:${account}`, fn));
  }
}
