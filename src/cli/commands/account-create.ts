/**
 * `latch account create --recovery-dir DIR | --skip-recovery`: a new account with a device key
 * (this authenticator), a server key and a recovery key (written only as a recovery kit).
 * `--add-recovery --recovery-dir DIR` adds the recovery key later to an account without one.
 */
import { hostname } from 'node:os';
import { parse, usageError } from '../cli-context.js';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { LatchError, isLatchError } from '../../util/latch-error.js';
import { readPassphrase } from '../../util/passphrase.js';
import { looksSynced, newRecoveryKey, recoveryKitPath, writeRecoveryKit } from '../../authenticator/custody-recovery-kit.js';
import { encodeRecoveryKit } from '../../authenticator/custody-recovery-kit-format.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { createFlowKeyFile } from '../flow-key-file.js';
import { COMMON_FLAGS, adoptAccount, newInbox, openSession, printResult, requireAccount } from './account-session.js';

const USAGE = 'latch account create (--recovery-dir DIR | --skip-recovery | --self-custody --key-file FILE) [--name DEVICE_NAME] [--add-recovery] [--server URL] [--json]';

export async function accountCreate(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, 'recovery-dir': { type: 'string' }, 'skip-recovery': { type: 'boolean' }, name: { type: 'string' }, 'add-recovery': { type: 'boolean' }, 'self-custody': { type: 'boolean' }, 'key-file': { type: 'string' } }, USAGE);
  if (values['self-custody'] || values['key-file'] !== undefined) {
    if (!values['self-custody'] || values['key-file'] === undefined) throw usageError('--self-custody and --key-file FILE go together', USAGE);
    if (values['recovery-dir'] !== undefined || values['skip-recovery'] || values['add-recovery']) throw usageError('a self-custody account has one key, in the key file: no recovery kit', USAGE);
    return createSelfCustody(values['key-file'], values.server, values.json);
  }
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
    // The kit is written before the server is asked: a replacement waits the recovery delay
    // (docs/CUSTODY.md "Replacing the recovery key") and the key the devices were told about
    // must be the one added afterwards, so the same command run again reuses this kit.
    const path = recoveryKitPath(dir!, address);
    // Sealed (Argon2id, seconds) before talking to the server, not between two requests: a
    // kept-alive connection idle that long is closed by the server and the next fetch fails.
    const freshText = encodeRecoveryKit(s.sodium, address, recovery.secret, recoveryPassphrase!);
    const accountKeys = (await s.client.getAccount(address)).keys;
    let publicKey = existsSync(path) ? kitPublicKey(path) : undefined;
    const onAccount = accountKeys.find((k) => k.public_key === publicKey);
    if (onAccount && !onAccount.revoked) throw new LatchError('already_has_recovery', `the kit at ${path} holds key ${onAccount.index} of the account, which is live; revoke it first to replace it`);
    if (onAccount) {
      // An earlier kit of this account whose key was revoked: useless now, but kept aside.
      renameSync(path, `${path}.replaced-${Math.floor(Date.now() / 1000)}`);
      publicKey = undefined;
    }
    const fresh = publicKey === undefined;
    if (fresh) {
      writeFileAtomic(path, freshText);
      publicKey = recovery.publicKey;
    }
    let sent;
    try {
      sent = await s.client.addRecoveryKey({ address, recoveryPublicKey: publicKey!, device: { keyIndex, signer: s.device } });
    } catch (e) {
      if (isLatchError(e, 'recovery_key_delayed')) s.cli.err(`The recovery kit is kept at ${path}; run this same command again after the delay to add its key.`);
      else if (fresh) rmSync(path, { force: true }); // a kit whose key was refused is useless
      throw e;
    }
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

/**
 * `--self-custody --key-file FILE`: a new P-256 key written to FILE (0600, never over an existing
 * file) and an account held by that key alone at weight 1000: a parent wallet for account linking
 * (issue 13). The key is on disk before the account exists, so no account is ever keyless.
 */
async function createSelfCustody(path: string, server: string | undefined, json: boolean | undefined): Promise<number> {
  const s = await openSession({ ...(server !== undefined ? { server } : {}) });
  const key = createFlowKeyFile(path);
  let address: string;
  try {
    ({ address } = await s.client.createSelfCustodyAccount({ publicKey: key.publicKey, signatureAlgorithm: 'ECDSA_P256', hashAlgorithm: 'SHA3_256' }));
  } catch (e) {
    // Only a definite refusal by the server (a 4xx it answered) means no account holds this
    // key. Unreachable (perhaps after the request went out), a 5xx or an unreadable answer may
    // follow a created account whose only key is this file: it is kept.
    if (e instanceof LatchError && e.status >= 400 && e.status < 500 && e.code !== 'server_unreachable' && e.code !== 'bad_response') {
      key.abandon();
    } else {
      key.keep();
      s.cli.err(`The key file ${path} is kept: the server did not clearly refuse, so an account held by this key alone may exist. Keep the file; do not reuse it for another account.`);
    }
    throw e;
  }
  key.finish(address);
  printResult(s, json, { address, key_file: path, key_index: 0, weight: 1000 }, `Self-custody account ${address} created; its only key (weight 1000) is in ${path}. Keep that file safe: nobody else can recover this account.`);
  return 0;
}

/** The public key a kit names in the clear (no passphrase needed to know which key it holds). */
function kitPublicKey(path: string): string | undefined {
  try {
    const k = (JSON.parse(readFileSync(path, 'utf8')) as { public_key?: unknown }).public_key;
    return typeof k === 'string' && /^[0-9a-f]{128}$/.test(k) ? k : undefined;
  } catch {
    return undefined;
  }
}
