/** `latch account show [ADDRESS]`: address, balance and keys (Flow REST key fields + role). */
import { parse } from '../cli-context.js';
import { COMMON_FLAGS, openSession, printResult, remindRecovery, requireAccount } from './account-session.js';

const USAGE = 'latch account show [ADDRESS] [--server URL] [--json]';

export async function accountShow(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_FLAGS }, USAGE, 1);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const address = positionals[0] ?? requireAccount(s).address;
  const a = await s.client.getAccount(address);
  const rows = a.keys.map((k) => `  ${k.index.padStart(2)}  ${k.role.padEnd(8)} weight ${k.weight.padStart(4)}  seq ${k.sequence_number.padStart(3)}  ${k.revoked ? 'REVOKED' : 'active '}  ${k.device_name ?? ''}${Number(k.index) === s.custody.keyIndex && a.address === s.custody.account ? ' (this device)' : ''}`);
  printResult(s, values.json, { address: a.address, balance: a.balance, keys: a.keys, self_custody: a.self_custody }, [`Account ${a.address}`, `Balance ${a.balance} FLOW${a.self_custody ? '  (self-custody: the server key is revoked)' : ''}`, 'Keys:', ...rows].join('\n'));
  remindRecovery(s);
  return 0;
}
