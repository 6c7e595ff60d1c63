/**
 * The web authenticator's storage: one IndexedDB database, one object store of named records.
 * Browser-only. CryptoKey objects are stored as they are (structured clone keeps them
 * non-extractable); the libsodium session keys of a pairing are stored as bytes (base64url),
 * because libsodium cannot use a CryptoKey. See docs/WEB.md "Keys".
 */
import type { PinnedHost, ReplayEntry, StoredPairing, StoredPolicy } from '../authenticator/authenticator-state.js';
import type { WebauthnCredentialFacts } from '../authenticator/webauthn-core.js';
import type { HistoryEntry } from './web-history.js';
import type { OpenCard } from './web-open-cards.js';
import type { WebCustody } from './web-custody-state.js';

export const DB_NAME = 'latch-web';
const STORE = 'kv';

/** The long-term SSH key: the private half is a non-extractable CryptoKey. */
export interface WebSshKey {
  name: string;
  type: 'ssh-ed25519' | 'ecdsa-sha2-nistp256';
  /** SSH public key blob, base64 (the middle field of an authorized_keys line). */
  publicBlob: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  createdAt: number;
}

/**
 * A passkey (issue 11): the keystore's record (WebauthnCredentialFacts: rpId, user handle, user
 * name, sign counter, ...) with its private half as a non-extractable CryptoKey made for this
 * credential alone (web-passkey-key.ts) instead of secret bytes.
 */
export type WebPasskey = WebauthnCredentialFacts & { privateKey: CryptoKey };

export interface WebDevice {
  v: 1;
  deviceId: string;
  name: string;
  createdAt: number;
  sshKeys: WebSshKey[];
}

/** Each record is one IndexedDB value; `transact` changes one record atomically. */
export interface WebRecords {
  device: WebDevice;
  pairings: StoredPairing[];
  replay: ReplayEntry[];
  history: HistoryEntry[];
  /** Timed approvals (same shape and rules as `latch device`'s, policy-book.ts). */
  policies: StoredPolicy[];
  /** SSH host keys pinned per host name on first verified use. */
  pinnedHosts: PinnedHost[];
  /** Pairing ids whose user opted in to timed approvals for unverified hosts. */
  allowUnverifiedFor: string[];
  /** Cards open right now, by page load (web-open-cards.ts): a reload's interrupted ones reach History. */
  openCards: OpenCard[];
  /** Custody (issue 4 in the browser): device key, session, account. */
  custody: WebCustody;
  /** Passkeys (issue 11), each with its own non-extractable key. */
  passkeys: WebPasskey[];
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class WebStore {
  #lost: ((why: string) => void)[] = [];
  #lostWhy: string | undefined;

  private constructor(private readonly db: IDBDatabase) {
    // Issue 16 §5 "Site data cleared with a card open": the keys and pairings can vanish under an
    // open page (site data cleared, the database deleted by another page or by hand). The browser
    // then force-closes this connection ('close'), or asks it to step aside for the deletion
    // ('versionchange' to null). Either way nothing here can be read again: say so, never go on
    // "listening" with no keys behind it.
    db.onclose = () => this.#markLost('the browser closed the app\'s storage (its site data was cleared)');
    db.onversionchange = (e) => {
      db.close(); // let the deletion (or upgrade) proceed; this connection is done either way
      this.#markLost(e.newVersion === null ? 'the app\'s storage was deleted' : 'the app\'s storage was changed by a newer page');
    };
  }

  /** Why the storage is gone, if it is (see onLost). */
  get lost(): string | undefined {
    return this.#lostWhy;
  }

  /** `fn(why)` once the storage is gone for good (at once if it already is). */
  onLost(fn: (why: string) => void): void {
    if (this.#lostWhy !== undefined) fn(this.#lostWhy);
    else this.#lost.push(fn);
  }

  #markLost(why: string): void {
    if (this.#lostWhy !== undefined) return;
    this.#lostWhy = why;
    for (const fn of this.#lost.splice(0)) fn(why);
  }

  static async open(name = DB_NAME): Promise<WebStore> {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
    };
    return new WebStore(await req(open));
  }

  async get<K extends keyof WebRecords>(key: K): Promise<WebRecords[K] | undefined> {
    const tx = this.db.transaction(STORE, 'readonly');
    return (await req(tx.objectStore(STORE).get(key))) as WebRecords[K] | undefined;
  }

  async put<K extends keyof WebRecords>(key: K, value: WebRecords[K]): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(value, key);
    await txDone(tx);
  }

  /**
   * Read, change and write one record in ONE readwrite transaction. IndexedDB runs readwrite
   * transactions on a store one at a time, across tabs too, so this is the browser's version
   * of the keystore lock. `fn` must be synchronous (an await would end the transaction).
   */
  transact<K extends keyof WebRecords, R>(key: K, fn: (value: WebRecords[K] | undefined) => { write?: WebRecords[K]; value: R }): Promise<R> {
    return this.transactMany([key], (v) => {
      const out = fn(v[key]);
      return { write: out.write === undefined ? {} : ({ [key]: out.write } as { [P in K]?: WebRecords[P] }), value: out.value };
    });
  }

  /** `transact` over several records in ONE readwrite transaction: all writes land, or none. */
  async transactMany<K extends keyof WebRecords, R>(
    keys: readonly K[],
    fn: (values: { [P in K]?: WebRecords[P] }) => { write?: { [P in K]?: WebRecords[P] }; value: R },
  ): Promise<R> {
    const tx = this.db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const values: { [P in K]?: WebRecords[P] } = {};
    let pending = keys.length;
    let out: { write?: { [P in K]?: WebRecords[P] }; value: R } | undefined;
    let failure: unknown;
    for (const key of keys) {
      const get = store.get(key);
      get.onsuccess = () => {
        values[key] = get.result as WebRecords[K] | undefined;
        if (--pending > 0) return;
        try {
          out = fn(values);
          for (const [k, v] of Object.entries(out.write ?? {})) if (v !== undefined) store.put(v, k);
        } catch (e) {
          failure = e;
          tx.abort();
        }
      };
    }
    try {
      await txDone(tx);
    } catch (e) {
      throw failure ?? e;
    }
    return out!.value;
  }

  close(): void {
    this.db.close();
  }
}

function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
    tx.onerror = () => reject(tx.error);
  });
}
