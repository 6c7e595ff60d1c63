/**
 * `latch account create --recovery-dir DIR | --skip-recovery`: a new account with a device key
 * (this authenticator), a server key and a recovery key (written only as a recovery kit).
 * `--add-recovery --recovery-dir DIR` adds the recovery key later to an account without one.
 */
import { hostname } from 'node:os';
import { parse, usageError } from '../cli-context.js';
import { LatchError } from '../../util/latch-error.js';
import { readPassphrase } from '../../util/passphrase.js';
import { looksSynced, newRecoveryKey, writeRecoveryKit } from '../../authenticator/custody-recovery-kit.js';
import { COMMON_FLAGS, adoptAccount, newInbox, openSession, printResult, requireAccount } from './account-session.js';

const USAGE = 'latch account create (--recovery-dir DIR | --skip-recovery) [--name DEVICE_NAME] [--add-recovery] [--server URL] [--json]';

export async function accountCreate(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, 'recovery-dir': { type: 'string' }, 'skip-recovery': { type: 'boolean' }, name: { type: 'string' }, 'add-recovery': { type: 'boolean' } }, USAGE);
  const dir = values['recovery-dir'];
  if ((dir === undefined) === (values['skip-recovery'] !== true)) throw usageError('give --recovery-dir DIR, or --skip-recovery to add the recovery key later', USAGE);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const recoveryPassphrase = dir === undefined ? undefined : await readPassphrase({ envVar: 'LATCH_RECOVERY_PASSPHRASE', prompt: 'Recovery passphrase (keep it apart from the kit): ', confirm: true });
  if (dir !== undefined && !looksSynced(dir)) {
    s.cli.err(`Warning: ${dir} does not look like a synced cloud folder (Dropbox, iCloud Drive, Google Drive, OneDrive, ...). ` + 'A recovery kit that lives only on this machine is lost with it.');
  }
  const recovery = dir === undefined ? undefined : newRecoveryKey();

  if (values['add-recovery']) {
    const { address, keyIndex } = requireAccount(s);
    if (!recovery) throw usageError('--add-recovery needs --recovery-dir', USAGE);
    const sent = await s.client.addRecoveryKey({ address, recoveryPublicKey: recovery.publicKey, device: { keyIndex, signer: s.device } });
    const path = writeRecoveryKit(s.sodium, dir!, address, recovery.secret, recoveryPassphrase!);
    await s.save((c) => delete c.recoveryMissing);
    printResult(s, values.json, { address, recovery_kit: path, id: sent.id }, `Recovery key added; kit written to ${path}`);
    return 0;
  }

  if (s.custody.account) throw new LatchError('already_has_account', `this authenticator already holds a key of ${s.custody.account}`);
  const inbox = newInbox(s.sodium, s.client.server);
  const created = await s.client.createAccount({ deviceName: values.name ?? s.keystore.state.name ?? hostname(), ...(recovery ? { recoveryPublicKey: recovery.publicKey } : {}), inbox: inbox.wire, device: s.device });
  await s.save((c) => {
    c.inbox = inbox.stored;
    if (!recovery) c.recoveryMissing = true;
  });
  await adoptAccount(s, created.address, 0, false);
  let kit: string | null = null;
  if (recovery) {
    try {
      kit = writeRecoveryKit(s.sodium, dir!, created.address, recovery.secret, recoveryPassphrase!);
    } catch (e) {
      await s.save((c) => (c.recoveryMissing = true));
      throw new LatchError('recovery_kit_failed', `account ${created.address} was created, but the recovery kit could not be written (${(e as Error).message}); add a new one with --add-recovery`);
    }
  } else {
    s.cli.err('No recovery key: if you lose this device and the server, the account is lost. Add one later: latch account create --add-recovery --recovery-dir DIR');
  }
  printResult(s, values.json, { address: created.address, recovery_kit: kit, key_index: 0 }, `Account ${created.address} created.${kit ? ` Recovery kit: ${kit}` : ''}`);
  return 0;
}
