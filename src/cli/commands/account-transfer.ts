/**
 * `latch account transfer --to 0x... --amount N`: the device signs, the server co-signs.
 * After self-custody the server cannot co-sign: with `--recovery-file F` the device and the
 * recovery key sign; without it another device of the account is asked through the relay
 * (`latch device run` there) to add the second signature. The server only forwards.
 */
import { parse, usageError } from '../cli-context.js';
import { readPassphrase } from '../../util/passphrase.js';
import { readRecoveryKit } from '../../authenticator/custody-recovery-kit.js';
import { LatchError } from '../../util/latch-error.js';
import { COMMON_FLAGS, openSession, parentClient, printResult, remindRecovery, requireAccount } from './account-session.js';
import { readFlowKeyFile } from '../flow-key-file.js';

const USAGE = 'latch account transfer --to ADDRESS --amount FLOW [--recovery-file F | --from-child 0xCHILD --parent-key FILE] [--server URL] [--json]';

export async function accountTransfer(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, to: { type: 'string' }, amount: { type: 'string' }, 'recovery-file': { type: 'string' }, 'from-child': { type: 'string' }, 'parent-key': { type: 'string' } }, USAGE);
  if (values.to === undefined || !/^(0x)?[0-9a-fA-F]{16}$/.test(values.to)) throw usageError('--to must be a Flow address (0x + 16 hex digits)', USAGE);
  if (values.amount === undefined || !/^[0-9]{1,11}(\.[0-9]{1,8})?$/.test(values.amount) || Number(values.amount) <= 0) throw usageError('--amount must be a positive amount of FLOW, like 10 or 0.5', USAGE);
  if ((values['from-child'] === undefined) !== (values['parent-key'] === undefined)) throw usageError('--from-child and --parent-key go together', USAGE);
  if (values['from-child'] !== undefined) {
    // The parent moves its child's funds by its own signature: no device key, no co-sign (issue 13).
    if (!/^(0x)?[0-9a-fA-F]{16}$/.test(values['from-child'])) throw usageError('--from-child must be a Flow address (0x + 16 hex digits)', USAGE);
    if (values['recovery-file'] !== undefined) throw usageError('--recovery-file is for this account, not a child', USAGE);
    const key = readFlowKeyFile(values['parent-key']!);
    const { client, cli } = await parentClient(values.server);
    const sent = await client.transferFromChild({ child: values['from-child'], to: values.to, amount: values.amount, parent: key.signer });
    if (values.json) cli.out(JSON.stringify({ id: sent.id, transaction: sent.transaction, status: sent.status }));
    else cli.out(`${key.address} sent ${values.amount} FLOW of ${values['from-child']} to ${values.to}: transaction ${sent.id} (${sent.status}).`);
    return 0;
  }
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const { address, keyIndex } = requireAccount(s);
  const device = { keyIndex, signer: s.device };
  let sent;
  if (values['recovery-file'] !== undefined) {
    const pass = await readPassphrase({ envVar: 'LATCH_RECOVERY_PASSPHRASE', prompt: 'Recovery passphrase: ' });
    const kit = readRecoveryKit(s.sodium, values['recovery-file'], pass);
    if (kit.address !== address) throw new LatchError('wrong_account', `the recovery kit is for ${kit.address}, not ${address}`);
    const acct = await s.client.getAccount(address);
    const rk = acct.keys.find((k) => k.public_key === kit.publicKey && !k.revoked);
    if (!rk) throw new LatchError('unknown_key', 'the recovery key of this kit is not an active key of the account');
    sent = await s.client.transferWithTwoKeys({ address, to: values.to, amount: values.amount, first: device, second: { keyIndex: Number(rk.index), signer: kit.signer } });
  } else if ((await s.client.getAccount(address)).self_custody) {
    // No server key: another device of the account adds the second signature (2FA through the relay).
    s.cli.err('Self-custody account: asking your other devices to co-sign (approve within 3 minutes)...');
    sent = await s.client.transferWithTwoDevices({ address, to: values.to, amount: values.amount, device });
  } else {
    sent = await s.client.transfer({ address, to: values.to, amount: values.amount, device });
  }
  printResult(s, values.json, { id: sent.id, transaction: sent.transaction, status: sent.status }, `Sent ${values.amount} FLOW to ${values.to}: transaction ${sent.id} (${sent.status}).`);
  remindRecovery(s);
  return 0;
}
