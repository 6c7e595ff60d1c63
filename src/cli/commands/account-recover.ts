/**
 * `latch account recover --recovery-file F`: on a new authenticator (logged in as the owner),
 * the recovery kit and the server key add this device's key. The server waits out its
 * recovery delay first and tells every existing device, which can cancel
 * (`latch account recover --cancel ID` on one of them). Without --wait, a pending recovery
 * prints when it is ready; run the same command again then.
 */
import { hostname } from 'node:os';
import { parse, usageError } from '../cli-context.js';
import { LatchError } from '../../util/latch-error.js';
import { readPassphrase } from '../../util/passphrase.js';
import { readRecoveryKit } from '../../authenticator/custody-recovery-kit.js';
import { COMMON_FLAGS, adoptAccount, openSession, printResult, requireAccount } from './account-session.js';

const USAGE = 'latch account recover (--recovery-file F [--name DEVICE_NAME] [--wait] | --cancel RECOVERY_ID) [--server URL] [--json]';

export async function accountRecover(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, 'recovery-file': { type: 'string' }, name: { type: 'string' }, wait: { type: 'boolean' }, cancel: { type: 'string' } }, USAGE);
  if ((values['recovery-file'] === undefined) === (values.cancel === undefined)) throw usageError('give --recovery-file F, or --cancel RECOVERY_ID', USAGE);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  if (values.cancel !== undefined) {
    if (!/^[A-Za-z0-9_-]{22}$/.test(values.cancel)) throw usageError('--cancel takes the recovery id from the notice', USAGE);
    requireAccount(s);
    await s.client.cancelRecovery(values.cancel);
    printResult(s, values.json, { recovery_id: values.cancel, status: 'cancelled' }, `Recovery ${values.cancel} cancelled.`);
    return 0;
  }
  const pass = await readPassphrase({ envVar: 'LATCH_RECOVERY_PASSPHRASE', prompt: 'Recovery passphrase: ' });
  const kit = readRecoveryKit(s.sodium, values['recovery-file']!, pass);
  if (s.custody.account) throw new LatchError('already_has_account', `this authenticator already holds a key of ${s.custody.account}`);
  let account = await s.client.getAccount(kit.address);
  const rk = account.keys.find((k) => k.public_key === kit.publicKey && !k.revoked);
  if (!rk) throw new LatchError('unknown_key', `the kit's recovery key is not an active key of ${kit.address}`);
  const recovery = { keyIndex: Number(rk.index), signer: kit.signer };
  const pending = s.custody.pendingRecovery?.address === kit.address ? s.custody.pendingRecovery.id : undefined;
  let out = pending
    ? undefined
    : await s.client.recover({ address: kit.address, recovery, newDevicePublicKey: s.device.publicKey, deviceName: values.name ?? s.keystore.state.name ?? hostname(), account });
  const id = pending ?? out!.recovery_id;
  if (!pending) await s.save((c) => (c.pendingRecovery = { id, address: kit.address }));
  for (;;) {
    if (out?.status === 'completed') {
      await adoptAccount(s, kit.address, out.key_index!, true);
      printResult(s, values.json, { address: kit.address, key_index: out.key_index, status: 'completed', recovery_id: id, id: out.id }, `Recovered ${kit.address}: this device is key ${out.key_index}.`);
      return 0;
    }
    try {
      account = await s.client.getAccount(kit.address);
      out = await s.client.completeRecovery({ recoveryId: id, address: kit.address, recovery, newDevicePublicKey: s.device.publicKey, account });
      continue;
    } catch (e) {
      if (!(e instanceof LatchError) || e.code !== 'recovery_pending') {
        if (e instanceof LatchError && (e.code === 'recovery_cancelled' || e.code === 'recovery_closed')) await s.save((c) => delete c.pendingRecovery);
        throw e;
      }
      if (!values.wait) {
        printResult(s, values.json, { address: kit.address, status: 'pending', recovery_id: id }, `Recovery ${id} is pending: ${e.message}. Every device of the account was told. Run this command again after the delay (or use --wait).`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
