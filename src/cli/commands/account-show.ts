/**
 * `latch account show [ADDRESS]`: address, balance and keys (Flow REST key fields + role), each
 * with its fingerprint computed here from the public key (not taken from the server), and a
 * warning when two live indexes are one key: together they would sign with weight 1000 (issue 15).
 */
import { parse } from '../cli-context.js';
import { keyFingerprint } from '../../custody/key-fingerprint.js';
import { isLatchError } from '../../util/latch-error.js';
import type { AccountView } from '../../sdk/custody-client.js';
import { COMMON_FLAGS, openSession, printResult, remindRecovery, requireAccount } from './account-session.js';

const USAGE = 'latch account show [ADDRESS] [--server URL] [--json]';

export async function accountShow(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_FLAGS }, USAGE, 1);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const address = positionals[0] ?? requireAccount(s).address;
  // An account this server holds no key of (a parent wallet, say) is shown from the ledger.
  const a = await s.client.getAccount(address).catch(async (e: unknown) => {
    if (!isLatchError(e, 'unknown_account') || positionals[0] === undefined) throw e;
    const l = await s.client.getLedgerAccount(address);
    return { ...l, self_custody: false, server_box_public_key: '', keys: l.keys.map((k) => ({ ...k, role: 'unknown' as const })) } satisfies AccountView;
  });
  const keys = a.keys.map((k: AccountView['keys'][number]) => ({ ...k, fingerprint: keyFingerprint(k.public_key) }));
  const twin = (k: (typeof keys)[number]): string | undefined => (k.revoked ? undefined : keys.find((o) => o !== k && !o.revoked && o.public_key === k.public_key)?.index);
  const rows = keys.map((k) => {
    const same = twin(k);
    return `  ${k.index.padStart(2)}  ${k.role.padEnd(8)} weight ${k.weight.padStart(4)}  seq ${k.sequence_number.padStart(3)}  ${k.revoked ? 'REVOKED' : 'active '}  ${k.fingerprint}  ${k.device_name ?? ''}${Number(k.index) === s.custody.keyIndex && a.address === s.custody.account ? ' (this device)' : ''}${same !== undefined ? `  WARNING: same key as index ${same}` : ''}`;
  });
  const links = !a.links_known
    ? ['Links: not known on this ledger']
    : [
        `Parents: ${a.parents.length === 0 ? 'none' : a.parents.map((p) => `${p.address} (${p.state === 'redeemed' ? 'can move everything in this account' : 'published, not yet redeemed'})`).join(', ')}`,
        `Children: ${a.children.length === 0 ? 'none' : a.children.join(', ')}`,
      ];
  printResult(s, values.json, { address: a.address, balance: a.balance, keys, self_custody: a.self_custody, parents: a.parents, children: a.children }, [`Account ${a.address}`, `Balance ${a.balance} FLOW${a.self_custody ? '  (self-custody: the server key is revoked)' : ''}`, 'Keys:', ...rows, ...links].join('\n'));
  remindRecovery(s);
  return 0;
}
