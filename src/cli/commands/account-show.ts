/**
 * `latch account show [ADDRESS]`: address, balance and keys (Flow REST key fields + role), each
 * with its fingerprint computed here from the public key (not taken from the server), and a
 * warning when two live indexes are one key: together they would sign with weight 1000 (issue 15).
 */
import { parse } from '../cli-context.js';
import { keyFingerprint } from '../../custody/key-fingerprint.js';
import { COMMON_FLAGS, openSession, printResult, remindRecovery, requireAccount } from './account-session.js';

const USAGE = 'latch account show [ADDRESS] [--server URL] [--json]';

export async function accountShow(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_FLAGS }, USAGE, 1);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const address = positionals[0] ?? requireAccount(s).address;
  const a = await s.client.getAccount(address);
  const keys = a.keys.map((k) => ({ ...k, fingerprint: keyFingerprint(k.public_key) }));
  const twin = (k: (typeof keys)[number]): string | undefined => (k.revoked ? undefined : keys.find((o) => o !== k && !o.revoked && o.public_key === k.public_key)?.index);
  const rows = keys.map((k) => {
    const same = twin(k);
    return `  ${k.index.padStart(2)}  ${k.role.padEnd(8)} weight ${k.weight.padStart(4)}  seq ${k.sequence_number.padStart(3)}  ${k.revoked ? 'REVOKED' : 'active '}  ${k.fingerprint}  ${k.device_name ?? ''}${Number(k.index) === s.custody.keyIndex && a.address === s.custody.account ? ' (this device)' : ''}${same !== undefined ? `  WARNING: same key as index ${same}` : ''}`;
  });
  printResult(s, values.json, { address: a.address, balance: a.balance, keys, self_custody: a.self_custody }, [`Account ${a.address}`, `Balance ${a.balance} FLOW${a.self_custody ? '  (self-custody: the server key is revoked)' : ''}`, 'Keys:', ...rows].join('\n'));
  remindRecovery(s);
  return 0;
}
