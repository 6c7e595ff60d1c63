/**
 * What every `latch login` / `latch account ...` command shares: the authenticator's keystore
 * (LATCH_HOME, LATCH_PASSPHRASE), its custody state, and a CustodyClient for the server
 * (--server, else the server the authenticator logged in to, else LATCH_SERVER).
 */
import { defaultCli, type Cli } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady, type Sodium } from '../../protocol/sodium.js';
import { DEFAULT_RELAY_URL } from '../../protocol/protocol-constants.js';
import { Keystore } from '../../authenticator/keystore.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../../authenticator/custody-device-key.js';
import { newCustodyInbox } from '../../authenticator/custody-inbox.js';
import { keystoreTokenStore } from '../../authenticator/custody-token-store.js';
import type { StoredCustody, StoredCustodyInbox } from '../../authenticator/custody-state.js';
import { CustodyClient, type DeviceInbox } from '../../sdk/custody-client.js';
import { LatchError } from '../../util/latch-error.js';

export const COMMON_FLAGS = { server: { type: 'string' }, json: { type: 'boolean' } } as const;

export interface Session {
  cli: Cli;
  sodium: Sodium;
  keystore: Keystore;
  custody: StoredCustody;
  client: CustodyClient;
  device: CustodySigner;
  /** Update the stored custody state (read-modify-write under the keystore lock). */
  save(fn: (c: StoredCustody) => void): Promise<StoredCustody>;
}

export function serverUrl(flag: string | undefined, stored?: string): string {
  const url = flag ?? stored ?? process.env.LATCH_SERVER ?? DEFAULT_RELAY_URL;
  if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(url)) throw new LatchError('usage', `--server must be an http(s) URL, got "${url}"`);
  return url.replace(/\/+$/, '');
}

/** Opens the keystore; creates the custody state (a fresh device key) when `create` is set. */
export async function openSession(opts: { server?: string; create?: boolean }): Promise<Session> {
  const cli = defaultCli();
  if (!Keystore.exists(cli.paths.keystoreFile)) {
    throw new LatchError('not_initialized', `no authenticator at ${cli.paths.authenticatorDir}: run \`latch device init --name NAME\` first`);
  }
  const sodium = await sodiumReady();
  const keystore = await openKeystore(sodium, cli.paths.keystoreFile);
  let custody = keystore.state.custody;
  const server = serverUrl(opts.server, custody?.server);
  if (!custody) {
    if (!opts.create) throw new LatchError('not_logged_in', 'not logged in: run `latch login --email EMAIL` first');
    custody = await keystore.update((s) => (s.custody = { server, ...newDeviceKey() }));
  } else if (custody.server !== server && opts.create) {
    // Another server: same device key, but nothing else carries over.
    custody = await keystore.update((s) => (s.custody = { server, deviceKey: s.custody!.deviceKey, devicePublicKey: s.custody!.devicePublicKey }));
  }
  const save = async (fn: (c: StoredCustody) => void): Promise<StoredCustody> =>
    keystore.update((s) => {
      fn(s.custody!);
      return s.custody!;
    });
  return {
    cli,
    sodium,
    keystore,
    custody,
    client: new CustodyClient({ server, tokenStore: keystoreTokenStore(keystore) }),
    device: deviceSigner(custody),
    save,
  };
}

export function requireAccount(s: Session, address?: string): { address: string; keyIndex: number } {
  const c = s.custody;
  if (!c.account || c.keyIndex === undefined) throw new LatchError('no_account', 'this authenticator has no account yet: `latch account create`, `join` or `recover`');
  if (address !== undefined && address.toLowerCase() !== c.account) throw new LatchError('wrong_account', `this authenticator holds a key of ${c.account}, not ${address}`);
  return { address: c.account, keyIndex: c.keyIndex };
}

/** A fresh relay inbox (on the custody server's own relay) for the server's notices. */
export function newInbox(sodium: Sodium, relayUrl: string): { stored: StoredCustodyInbox; wire: DeviceInbox } {
  return newCustodyInbox(sodium, relayUrl);
}

/** After create / join / recover: this device now holds key `keyIndex` of `address`. */
export async function adoptAccount(s: Session, address: string, keyIndex: number, withInbox: boolean): Promise<void> {
  const acct = await s.client.getAccount(address);
  let inbox: ReturnType<typeof newInbox> | undefined;
  if (withInbox) {
    inbox = newInbox(s.sodium, s.client.server);
    await s.client.registerInbox(address, inbox.wire, s.device);
  }
  s.custody = await s.save((c) => {
    c.account = address;
    c.keyIndex = keyIndex;
    c.serverBoxPublicKey = acct.server_box_public_key;
    if (inbox) c.inbox = inbox.stored;
    if (s.client.refreshToken) c.refreshToken = s.client.refreshToken;
    delete c.pendingJoin;
    delete c.pendingRecovery;
  });
}

/**
 * For the parent side (redeem, transfer --from-child, which a parent key signs alone): a client
 * with no login when --server or LATCH_SERVER names the server, else this authenticator's session.
 */
export async function parentClient(server: string | undefined): Promise<{ client: CustodyClient; cli: Cli }> {
  if (server !== undefined || process.env.LATCH_SERVER !== undefined) return { client: new CustodyClient({ server: serverUrl(server) }), cli: defaultCli() };
  const s = await openSession({});
  return { client: s.client, cli: s.cli };
}

export function printResult(s: Session, json: boolean | undefined, value: unknown, human: string): void {
  if (json) s.cli.out(JSON.stringify(value));
  else s.cli.out(human);
}

export function remindRecovery(s: Session): void {
  if (s.custody.recoveryMissing) s.cli.err('Reminder: this account has no recovery key yet. Add one: latch account create --add-recovery --recovery-dir DIR');
}
