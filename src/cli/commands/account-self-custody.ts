/** `latch account self-custody`: revoke the server key; afterwards two user keys sign. */
import { parse } from '../cli-context.js';
import { COMMON_FLAGS, openSession, printResult, requireAccount } from './account-session.js';

const USAGE = 'latch account self-custody [--server URL] [--json]';

export async function accountSelfCustody(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS }, USAGE);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const { address, keyIndex } = requireAccount(s);
  const sent = await s.client.selfCustody({ address, device: { keyIndex, signer: s.device } });
  printResult(s, values.json, { id: sent.id, transaction: sent.transaction, status: sent.status }, `The server key of ${address} is revoked (transaction ${sent.id}). From now on a transfer needs this device and the recovery kit (--recovery-file), or two devices.`);
  return 0;
}
