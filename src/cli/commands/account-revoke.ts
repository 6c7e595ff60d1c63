/** `latch account revoke --key N`: remove a (lost) key; the device key and the server key sign. */
import { parse, usageError } from '../cli-context.js';
import { COMMON_FLAGS, openSession, printResult, requireAccount } from './account-session.js';

const USAGE = 'latch account revoke --key INDEX [--server URL] [--json]';

export async function accountRevoke(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, key: { type: 'string' } }, USAGE);
  if (values.key === undefined || !/^[0-9]{1,9}$/.test(values.key)) throw usageError('--key must be a key index (a whole number)', USAGE);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const { address, keyIndex } = requireAccount(s);
  if (Number(values.key) === keyIndex) s.cli.err('Note: you are revoking this device\'s own key.');
  const sent = await s.client.revoke({ address, keyIndex: Number(values.key), device: { keyIndex, signer: s.device } });
  printResult(s, values.json, { id: sent.id, transaction: sent.transaction, status: sent.status, revoked: Number(values.key) }, `Key ${values.key} of ${address} revoked (transaction ${sent.id}).`);
  return 0;
}
