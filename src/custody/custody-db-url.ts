/**
 * Where custody keeps its state: `--custody-db postgres://...`, else the environment's
 * LATCH_CUSTODY_DB, else (undefined) the embedded SQLite files in the data dir (issue 10).
 */
import { LatchError } from '../util/latch-error.js';

export const CUSTODY_DB_ENV = 'LATCH_CUSTODY_DB';
/** The PostgreSQL schemas: custody's tables, and the embedded ledger's (same table names, apart). */
export const CUSTODY_SCHEMA = 'latch_custody';
export const LEDGER_SCHEMA = 'latch_ledger';

export function custodyDbUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = flag ?? (env[CUSTODY_DB_ENV] === '' ? undefined : env[CUSTODY_DB_ENV]);
  if (url === undefined) return undefined;
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) throw new LatchError('bad_custody_db', `--custody-db (or ${CUSTODY_DB_ENV}) must be a postgres:// URL`);
  return url;
}

/** The URL without its password, for logs. */
export function redactedDbUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
