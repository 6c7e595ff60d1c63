/** `latch server audit verify`: recompute the custody audit log's hash chain. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openCustodyDb } from '../../custody/custody-service.js';
import { verifyAuditChain } from '../../custody/audit-log.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch server audit verify [--data DIR] [--json]';

export async function serverAudit(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values, positionals } = parse(argv, { data: { type: 'string' }, json: { type: 'boolean' } }, USAGE, 1);
  if (positionals[0] !== 'verify') throw usageError('the audit subcommand is "verify"', USAGE);
  const file = join(values.data ?? cli.paths.serverDataDir, 'custody', 'custody.sqlite');
  if (!existsSync(file)) throw new LatchError('not_found', `no custody database at ${file}`);
  const db = openCustodyDb(file);
  try {
    const v = verifyAuditChain(db);
    if (values.json) cli.out(JSON.stringify(v));
    else if (v.ok) cli.out(`audit chain OK: ${v.entries} entries, head ${v.head}`);
    else cli.err(`audit chain BROKEN at entry ${v.badSeq}: ${v.reason}`);
    return v.ok ? 0 : 1;
  } finally {
    db.close();
  }
}
