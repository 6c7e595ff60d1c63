import { KeyedQueue } from '../util/keyed-queue.js';

/**
 * One decision at a time per account (issue 15 §2). The co-signing checks (daily limit, replay
 * record, join and recovery status) read the database, then `await ledger.sendTransaction()`,
 * which on Flow takes seconds to seal, then write. Two requests for one account interleaved in
 * that gap both passed the same check (three co-signs spent 500 against a limit of 300; one join
 * added its key twice). Every flow that checks account state and then sends runs inside
 * `run(address, …)`, which waits for the account's previous decision to settle, so the second
 * request reads what the first one wrote. The custody database has one writer (this process:
 * SQLite, busy_timeout), so an in-process queue is the whole lock; a store shared by several
 * server processes needs the database's own row lock instead (issue 7's PostgreSQL store).
 */
export class AccountLocks extends KeyedQueue {}
