/**
 * `latch server audit verify`: recompute the custody audit log's hash chain and check it against
 * the signed anchors beside the database (audit-anchor.ts), so truncation and a rebuilt chain
 * show too. Opens the database read-only and runs no migrations: it checks what is there.
 * With `--custody-db postgres://...` (or LATCH_CUSTODY_DB) it checks the one chain every node
 * appends to in PostgreSQL (issue 10), against the anchors in this node's `--data` dir.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { verifyAuditChain } from '../../custody/audit-log.js';
import { ANCHOR_FILE, anchorKey, readAnchorLines, verifyAnchors } from '../../custody/audit-anchor.js';
import { LocalMasterKey } from '../../custody/master-key.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { LatchError } from '../../util/latch-error.js';
import { SqliteCustodyDb } from '../../custody/sqlite-custody-db.js';
import { PostgresCustodyDb } from '../../custody/postgres-custody-db.js';
import { CUSTODY_SCHEMA, custodyDbUrl } from '../../custody/custody-db-url.js';
import type { CustodyDb } from '../../custody/custody-db.js';

const USAGE = 'latch server audit verify [--data DIR] [--custody-db postgres://...] [--json]';

export async function serverAudit(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values, positionals } = parse(argv, { data: { type: 'string' }, 'custody-db': { type: 'string' }, json: { type: 'boolean' } }, USAGE, 1);
  if (positionals[0] !== 'verify') throw usageError('the audit subcommand is "verify"', USAGE);
  const dataDir = values.data ?? cli.paths.serverDataDir;
  const url = custodyDbUrl(values['custody-db']);
  const file = join(dataDir, 'custody', 'custody.sqlite');
  if (url === undefined && !existsSync(file)) throw new LatchError('not_found', `no custody database at ${file}`);
  if (process.env.LATCH_MASTER_KEY === undefined && !existsSync(join(dataDir, 'master.key'))) {
    throw new LatchError('master_key', `no master key (${join(dataDir, 'master.key')} or LATCH_MASTER_KEY): the anchors cannot be checked without it`);
  }
  let db: CustodyDb;
  if (url !== undefined) {
    db = await PostgresCustodyDb.open(url, CUSTODY_SCHEMA, (line) => cli.err(line), false);
  } else {
    try {
      db = new SqliteCustodyDb(new Database(file, { readonly: true, fileMustExist: true }));
    } catch (e) {
      throw new LatchError('not_found', `cannot open ${file} read-only: ${(e as Error).message}`);
    }
  }
  try {
    const sodium = await sodiumReady();
    let result: Record<string, unknown> & { ok: boolean };
    try {
      const chain = await verifyAuditChain(db);
      if (!chain.ok) result = { ...chain };
      else {
        const key = await anchorKey(db, LocalMasterKey.open(sodium, dataDir), sodium, false);
        const anchors = await verifyAnchors(db, sodium, key.publicKey, readAnchorLines(join(dataDir, 'custody', ANCHOR_FILE)));
        result = anchors.ok ? { ...chain, anchored: anchors.anchored, lastAnchoredSeq: anchors.lastAnchoredSeq } : { ok: false, entries: chain.entries, ...(anchors.seq !== undefined ? { badSeq: anchors.seq } : {}), reason: anchors.reason };
      }
    } catch (e) {
      // A dropped table or a schema the server never wrote is a broken log, not a crash.
      if (e instanceof LatchError) result = { ok: false, reason: `${e.code}: ${e.message}` };
      else result = { ok: false, reason: `the audit tables cannot be read (${(e as Error).message})` };
    }
    if (values.json) cli.out(JSON.stringify(result));
    else if (result.ok) cli.out(`audit chain OK: ${String(result.entries)} entries, head ${String(result.head)}, anchored up to entry ${String(result.lastAnchoredSeq)}`);
    else cli.err(`audit chain BROKEN${result.badSeq !== undefined ? ` at entry ${String(result.badSeq)}` : ''}: ${String(result.reason)}`);
    return result.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}
