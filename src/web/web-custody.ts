/**
 * The custody account held by the web authenticator (issue 4 in the browser, docs/CUSTODY.md):
 * sign in by email (the device key signs the login challenge), create an account with a notice
 * inbox, keep the refresh token, read the account. The same SDK (`CustodyClient`) as the CLI,
 * with the WebCrypto signer (web-custody-key.ts). State lives in IndexedDB record `custody`
 * (web-custody-state.ts). Browser-only.
 */
import { isLatchError, LatchError } from '../util/latch-error.js';
import type { Sodium } from '../protocol/sodium.js';
import { CustodyClient, type AccountView, type LinkResult, type TokenPair } from '../sdk/custody-client.js';
import type { CustodySigner } from '../authenticator/custody-device-key.js';
import { newCustodyInbox } from '../authenticator/custody-inbox.js';
import { encodeRecoveryKit, newRecoveryKey, recoveryKitFileName } from '../authenticator/custody-recovery-kit-format.js';
import { createWebCustodyKey, webCustodySigner } from './web-custody-key.js';
import type { WebCustody } from './web-custody-state.js';
import type { WebStore } from './web-store.js';

export { createWebCustodyKey, webCustodySigner } from './web-custody-key.js';

/** The reminder `latch account create --skip-recovery` gives, in the page's words. */
export const NO_RECOVERY_REMINDER = 'No recovery key: if you lose this device and the server, the account is lost. Make a recovery kit below.';

/** A recovery kit ready to save: the same file `latch account create --recovery-dir` writes. */
export interface RecoveryKitDownload {
  fileName: string;
  /** The kit's JSON: the key inside is encrypted under the recovery passphrase. */
  text: string;
  publicKey: string;
}

export function checkRecoveryPassphrase(passphrase: string, again: string): void {
  if (passphrase.length < 8) throw new LatchError('passphrase_too_short', 'the recovery passphrase needs at least 8 characters');
  if (passphrase !== again) throw new LatchError('passphrase_mismatch', 'the two passphrases differ');
}

/**
 * A new recovery key, sealed into a kit at once (Argon2id MODERATE in libsodium's WebAssembly:
 * 256 MiB, a second or two). The key exists in this page's memory only for that, and its bytes
 * are zeroed afterwards; it is never stored (docs/CUSTODY.md: the kit is its only copy).
 */
function sealNewRecoveryKey(sodium: Sodium, address: string, passphrase: string): RecoveryKitDownload {
  const key = newRecoveryKey();
  try {
    return { fileName: recoveryKitFileName(address), text: encodeRecoveryKit(sodium, address, key.secret, passphrase), publicKey: key.publicKey };
  } finally {
    key.secret.fill(0);
  }
}

export async function loadCustody(store: WebStore): Promise<WebCustody | undefined> {
  return store.get('custody');
}

/** Change the custody record in one IndexedDB transaction (web-store.ts `transact`). */
export async function saveCustody(store: WebStore, fn: (c: WebCustody) => void): Promise<WebCustody> {
  return store.transact('custody', (c) => {
    if (!c) throw new LatchError('not_logged_in', 'this authenticator has no custody key yet: sign in first');
    fn(c);
    return { write: c, value: c };
  });
}

/**
 * A client for the stored server that writes every new refresh token back to IndexedDB.
 * Refresh tokens are single-use (docs/CUSTODY.md "Tokens") and shared by this origin's tabs,
 * so each exchange runs under a Web Lock against the newest stored token.
 */
export function custodyClient(store: WebStore, c: WebCustody): CustodyClient {
  return new CustodyClient({
    server: c.server,
    ...(c.refreshToken ? { refreshToken: c.refreshToken } : {}),
    tokenStore: {
      rotate: async (exchange) =>
        (await navigator.locks.request('latch-custody-refresh', async (): Promise<TokenPair> => {
          const cur = await store.get('custody');
          if (!cur?.refreshToken) throw new LatchError('not_logged_in', 'sign in first');
          const t = await exchange(cur.refreshToken);
          await saveCustody(store, (x) => (x.refreshToken = t.refresh_token));
          return t;
        })) as TokenPair,
    },
    onTokens: async (t) => {
      await saveCustody(store, (x) => (x.refreshToken = t.refresh_token));
    },
  });
}

export function custodySigner(c: WebCustody): CustodySigner {
  return webCustodySigner(c);
}

/**
 * The custody record for `server`, made on first use with a fresh non-extractable device key.
 * Another server keeps the device key and drops the rest, as `latch login --server` does.
 */
export async function ensureCustody(store: WebStore, server: string): Promise<WebCustody> {
  const url = server.replace(/\/+$/, '');
  const existing = await store.get('custody');
  if (existing?.server === url) return existing;
  const key = existing ?? (await createWebCustodyKey());
  const fresh: WebCustody = { server: url, deviceKey: key.deviceKey, devicePublicKey: key.devicePublicKey };
  // Two tabs at once: keep whichever record for this server was written first.
  return store.transact('custody', (c) => (c?.server === url ? { value: c } : { write: fresh, value: fresh }));
}

/** Step 1 of the dev issuer's login: the server mails a code (DATA/outbox/<email>.txt) and returns a challenge. */
export async function startLogin(store: WebStore, server: string, email: string): Promise<void> {
  const addr = email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(addr)) throw new LatchError('bad_email', 'enter an email address');
  const c = await ensureCustody(store, server);
  const { challenge } = await custodyClient(store, c).loginStart(addr);
  await saveCustody(store, (x) => (x.pendingLogin = { email: addr, challenge }));
}

/** Step 2: the device key signs the challenge; the tokens are bound to this device. */
export async function completeLogin(store: WebStore, code: string): Promise<WebCustody> {
  const c = await store.get('custody');
  if (!c?.pendingLogin) throw new LatchError('no_pending_login', 'ask for a code first');
  if (!/^[0-9]{6}$/.test(code.trim())) throw new LatchError('bad_code', 'the code is the 6 digits from the mail');
  const { email, challenge } = c.pendingLogin;
  const client = custodyClient(store, c);
  const t = await client.loginComplete(email, code.trim(), challenge, custodySigner(c));
  return saveCustody(store, (x) => {
    x.email = email;
    x.refreshToken = t.refresh_token;
    delete x.pendingLogin;
  });
}

/** Drop a login waiting for its code (the user wants another email). */
export async function cancelLogin(store: WebStore): Promise<void> {
  await store.transact('custody', (c) => {
    if (!c?.pendingLogin) return { value: undefined };
    delete c.pendingLogin;
    return { write: c, value: undefined };
  });
}

/**
 * A new account: keys 0 = this device, 1 = the server's, and 2 = the recovery key when a
 * recovery passphrase is given (its kit comes back to be downloaded). Without one the user gets
 * the CLI's reminder. The notice inbox is on the custody server's own relay, as the CLI
 * registers it.
 */
export async function createAccount(store: WebStore, sodium: Sodium, deviceName: string, recoveryPassphrase?: string): Promise<{ custody: WebCustody; kit?: RecoveryKitDownload }> {
  const c = await store.get('custody');
  if (!c?.refreshToken) throw new LatchError('not_logged_in', 'sign in first');
  if (c.account) throw new LatchError('already_has_account', `this authenticator already holds a key of ${c.account}`);
  const name = deviceName.trim();
  if (name === '' || name.length > 64) throw new LatchError('bad_name', 'give this device a name (at most 64 characters)');
  const client = custodyClient(store, c);
  const inbox = newCustodyInbox(sodium, c.server);
  // The kit is bound to the address (AAD), known only once the account exists; so the key is
  // made first and sealed after, as `latch account create` does.
  const recovery = recoveryPassphrase !== undefined ? newRecoveryKey() : undefined;
  try {
    const created = await client.createAccount({ deviceName: name, inbox: inbox.wire, device: custodySigner(c), ...(recovery ? { recoveryPublicKey: recovery.publicKey } : {}) });
    const acct = await client.getAccount(created.address);
    const mine = acct.keys.find((k) => k.public_key === c.devicePublicKey && !k.revoked);
    const custody = await saveCustody(store, (x) => {
      x.account = created.address;
      x.keyIndex = mine ? Number(mine.index) : 0;
      x.serverBoxPublicKey = acct.server_box_public_key;
      x.inbox = inbox.stored;
      x.recoveryMissing = true; // until the kit is sealed below
      // The account's new token pair was stored by the client's onTokens already; writing the
      // client's copy again here could put back a token another tab has rotated since.
    });
    if (!recovery) return { custody };
    let text: string;
    try {
      text = encodeRecoveryKit(sodium, created.address, recovery.secret, recoveryPassphrase!);
    } catch (e) {
      throw new LatchError('recovery_kit_failed', `account ${created.address} was created, but its recovery kit could not be made (${(e as Error).message}); make a new one on the Account screen`);
    }
    return { custody: await saveCustody(store, (x) => delete x.recoveryMissing), kit: { fileName: recoveryKitFileName(created.address), text, publicKey: recovery.publicKey } };
  } finally {
    recovery?.secret.fill(0);
  }
}

/**
 * A recovery key for an account made without one (`latch account create --add-recovery`): the
 * kit is sealed first, then this device and the server add the key; the kit comes back to be
 * downloaded. A kit whose key was not added (an error) is useless and never offered.
 */
export async function addRecoveryKey(store: WebStore, sodium: Sodium, passphrase: string): Promise<RecoveryKitDownload> {
  const c = await store.get('custody');
  if (!c?.account || c.keyIndex === undefined) throw new LatchError('no_account', 'this authenticator has no account yet');
  const kit = sealNewRecoveryKey(sodium, c.account, passphrase);
  await custodyClient(store, c).addRecoveryKey({ address: c.account, recoveryPublicKey: kit.publicKey, device: { keyIndex: c.keyIndex, signer: custodySigner(c) } });
  await saveCustody(store, (x) => delete x.recoveryMissing);
  return kit;
}

/** The account as the server (and its ledger) sees it: keys with role, weight, revoked, device name. */
export async function fetchAccount(store: WebStore, c: WebCustody): Promise<AccountView> {
  if (!c.account) throw new LatchError('no_account', 'this authenticator has no account yet');
  return custodyClient(store, c).getAccount(c.account);
}

/**
 * Account linking (docs/CUSTODY.md "Account linking"): this device signs a Hybrid Custody link
 * to `parent` (or its unlink) and the server co-signs for that parent only; after self-custody
 * another device of the account adds the second signature. The page shows the link card first.
 */
export async function changeLink(store: WebStore, kind: 'link' | 'unlink', parent: string): Promise<LinkResult> {
  const c = await store.get('custody');
  if (!c?.account || c.keyIndex === undefined) throw new LatchError('no_account', 'this authenticator has no account yet');
  const client = custodyClient(store, c);
  const opts = { address: c.account, parent, device: { keyIndex: c.keyIndex, signer: custodySigner(c) } };
  return kind === 'link' ? client.linkParent(opts) : client.unlinkParent(opts);
}

/** Cancel a recovery this device was told about (docs/CUSTODY.md "Recover"), and stop showing it. */
export async function cancelRecovery(store: WebStore, recoveryId: string): Promise<void> {
  const c = await store.get('custody');
  if (!c) throw new LatchError('not_logged_in', 'sign in first');
  const forget = (): Promise<WebCustody> => saveCustody(store, (x) => (x.recoveries = (x.recoveries ?? []).filter((r) => r.id !== recoveryId)));
  try {
    await custodyClient(store, c).cancelRecovery(recoveryId);
  } catch (e) {
    // Completed or cancelled already: nothing left to cancel, so stop showing it, but say so.
    if (isLatchError(e, 'recovery_closed')) await forget();
    throw e;
  }
  await forget();
}
