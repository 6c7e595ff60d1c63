/**
 * Typed client of Latch's custody API (docs/CUSTODY.md), used by the `latch` CLI and usable
 * by apps. It never holds private keys: signing goes through a CustodySigner
 * ({publicKey, sign(message)}), and every transaction it asks the server to co-sign is
 * built HERE from a template (never a script the server handed out) and signed locally.
 *
 * Keys of a custody account are self-paying: proposer = payer = authorizer = the account,
 * so every signature goes into the envelope (Flow: the payer signs the envelope).
 */
import { LatchError } from '../util/latch-error.js';
import { templateTransaction, type TemplateCall } from '../ledger/flow/cadence-templates.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../ledger/flow/flow-account-key.js';
import { bytesToHex, hexToBytes } from '../ledger/flow/flow-hex.js';
import { envelopeMessage, normalizeTransaction, parseFlowAddress, type FlowTransaction } from '../ledger/flow/flow-transaction.js';
import { fromRestTransaction, toRestTransaction, type RestAccountKey, type RestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { parseAmount } from '../ledger/flow/json-cadence.js';
import { CUSTODY_KEY_WEIGHT, CUSTODY_PREFIX, loginMessage, type DeviceInbox, type KeyRole, type TokenPair } from '../custody/custody-api.js';
import type { CustodySigner } from '../authenticator/custody-device-key.js';
import { inboxMessage, type SignedDeviceInbox } from '../custody/inbox-signature.js';

export type { CustodySigner } from '../authenticator/custody-device-key.js';
export type { DeviceInbox, DeviceNotice, KeyRole, TokenPair } from '../custody/custody-api.js';

export interface AccountKeyView extends RestAccountKey {
  role: KeyRole | 'unknown';
  device_name?: string;
}

export interface AccountView {
  address: string;
  balance: string;
  keys: AccountKeyView[];
  reference_block_id: string;
  server_box_public_key: string;
  self_custody: boolean;
  ledger: 'embedded' | 'flow-access';
  /** Hybrid Custody links (docs/CUSTODY.md "Account linking"). */
  parents: LinkedParent[];
  children: string[];
  /** false where the server's ledger cannot read links (a Flow network, for now). */
  links_known: boolean;
}

export interface LinkedParent {
  address: string;
  /** 'published' until the parent redeems the capability. */
  state: 'published' | 'redeemed';
}

/** Any ledger account, as a parent sees it (no custody roles). */
export interface LedgerAccountView {
  address: string;
  balance: string;
  keys: RestAccountKey[];
  reference_block_id: string;
  ledger: 'embedded' | 'flow-access';
  parents: LinkedParent[];
  children: string[];
  links_known: boolean;
}

export interface LinkResult {
  parent: string;
  state: 'published' | 'redeemed' | 'unlinked';
  /** Linking twice is idempotent: true when nothing was sent this time. */
  already: boolean;
  id?: string;
  transaction?: RestTransaction;
  status?: string;
}

/**
 * A key of a parent account (any Flow account with its own key of weight 1000, or keys adding
 * up to it): it signs Flow envelope messages with its own algorithms. The SDK never sees it.
 */
export interface ParentSigner {
  address: string;
  keyIndex: number;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface SentTransactionView {
  id: string;
  transaction: RestTransaction;
  status: string;
}

export interface JoinStatus extends Partial<TokenPair> {
  status: 'pending' | 'approved' | 'denied' | 'expired';
  expires_at: number;
  key_index?: number;
}

export interface RecoveryView extends Partial<TokenPair> {
  recovery_id: string;
  status: 'pending' | 'completed';
  ready_at: number;
  key_index?: number;
  id?: string;
  transaction?: RestTransaction;
}

export interface CustodyClientOptions {
  server: string;
  accessToken?: string;
  refreshToken?: string;
  /**
   * Called whenever new tokens arrive, to persist the refresh token; except for a refresh through
   * `tokenStore`, which stores the new token itself, under its lock: written again here, after the
   * lock, it could overwrite a newer token another sharer has stored meanwhile.
   */
  onTokens?: (t: TokenPair) => void | Promise<void>;
  /**
   * Where the refresh token lives when several clients share it (the CLI's commands and
   * `device run`, a browser's tabs). Refresh tokens are single-use (docs/CUSTODY.md "Tokens"):
   * a second use revokes the session, so the exchange must run under the store's lock against
   * the newest stored token. Without a store the client keeps the token in memory only.
   */
  tokenStore?: RefreshTokenStore;
  fetch?: typeof fetch;
}

export interface RefreshTokenStore {
  /** Under a lock every sharer takes: reads the newest refresh token, runs `exchange`, stores the one it returns. */
  rotate(exchange: (refreshToken: string) => Promise<TokenPair>): Promise<TokenPair>;
}

/** A key of the account with what is needed to sign for it. */
export interface AccountSigner {
  keyIndex: number;
  signer: CustodySigner;
}

export class CustodyClient {
  readonly server: string;
  #access: string | undefined;
  #refresh: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #onTokens: CustodyClientOptions['onTokens'];
  readonly #store: RefreshTokenStore | undefined;

  constructor(opts: CustodyClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.#access = opts.accessToken;
    this.#refresh = opts.refreshToken;
    // Not `fetch` itself: browsers throw "Illegal invocation" when fetch is called with a `this` other than the global.
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#onTokens = opts.onTokens;
    this.#store = opts.tokenStore;
  }

  get refreshToken(): string | undefined {
    return this.#refresh;
  }

  async #tokens(t: TokenPair): Promise<void> {
    this.#access = t.access_token;
    this.#refresh = t.refresh_token;
    await this.#onTokens?.(t);
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown, auth = true, retried = false): Promise<T> {
    const canRefresh = this.#refresh !== undefined || this.#store !== undefined;
    if (auth && this.#access === undefined && canRefresh && !retried) await this.refresh();
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.#access) headers.authorization = `Bearer ${this.#access}`;
    let res: Response;
    try {
      res = await this.#fetch(`${this.server}${CUSTODY_PREFIX}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      throw new LatchError('server_unreachable', `cannot reach the custody server at ${this.server}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new LatchError('bad_response', `the custody server answered ${res.status} with a body that is not JSON`);
    }
    if (res.status === 401 && auth && !retried && canRefresh) {
      await this.refresh();
      return this.#call(method, path, body, auth, true);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: unknown; message?: unknown } }).error;
      throw new LatchError(typeof err?.code === 'string' ? err.code : 'server_error', typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`, { status: res.status });
    }
    return json as T;
  }

  // ---- login ----

  /** Dev issuer: sends a code by the server's mailer; returns the challenge to sign later. */
  async loginStart(email: string): Promise<{ challenge: string }> {
    return this.#call('POST', '/login/start', { email }, false);
  }

  async loginComplete(email: string, code: string, challengeHex: string, device: CustodySigner): Promise<TokenPair> {
    const sig = await device.sign(loginMessage(hexToBytes(challengeHex, 'challenge', 32)));
    const t = await this.#call<TokenPair>('POST', '/login/complete', { email, code, device_public_key: device.publicKey, signature: bytesToHex(sig) }, false);
    await this.#tokens(t);
    return t;
  }

  /** Production path: an OpenID Connect ID token from an issuer the server accepts. */
  async loginWithIdToken(idToken: string, device: CustodySigner): Promise<TokenPair> {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(idToken)));
    const sig = await device.sign(loginMessage(digest));
    const t = await this.#call<TokenPair>('POST', '/login/oidc', { id_token: idToken, device_public_key: device.publicKey, signature: bytesToHex(sig) }, false);
    await this.#tokens(t);
    return t;
  }

  /** Exchanges the refresh token (single use) for a new pair. */
  async refresh(): Promise<TokenPair> {
    const exchange = (refresh_token: string): Promise<TokenPair> => this.#call<TokenPair>('POST', '/token/refresh', { refresh_token }, false, true);
    if (this.#store !== undefined) {
      const t = await this.#store.rotate(exchange);
      this.#access = t.access_token;
      this.#refresh = t.refresh_token;
      return t;
    }
    if (this.#refresh === undefined) throw new LatchError('not_logged_in', 'not logged in: run `latch login --email EMAIL`');
    const t = await exchange(this.#refresh);
    await this.#tokens(t);
    return t;
  }

  // ---- accounts ----

  /** With an inbox, `device` (the logged-in device key) signs its registration. */
  async createAccount(opts: { deviceName: string; recoveryPublicKey?: string; inbox?: DeviceInbox; device?: CustodySigner }): Promise<{ address: string } & TokenPair> {
    if (opts.inbox !== undefined && opts.device === undefined) throw new TypeError('createAccount: an inbox needs the device signer');
    const out = await this.#call<{ address: string } & TokenPair>('POST', '/accounts', {
      device_name: opts.deviceName,
      ...(opts.recoveryPublicKey !== undefined ? { recovery_public_key: opts.recoveryPublicKey } : {}),
      ...(opts.inbox !== undefined ? { inbox: await signInbox(opts.device!, null, opts.inbox) } : {}),
    });
    await this.#tokens(out);
    return out;
  }

  async getAccount(address: string): Promise<AccountView> {
    return this.#call('GET', `/accounts/${parseFlowAddress(address)}`);
  }

  /** Registers (or re-registers) this device's notice inbox, signed by its device key. */
  async registerInbox(address: string, inbox: DeviceInbox, device: CustodySigner): Promise<void> {
    const a = parseFlowAddress(address);
    await this.#call('POST', `/accounts/${a}/inbox`, await signInbox(device, a, inbox));
  }

  /** Builds a template transaction proposed by `proposer`, signed by every key in `signers`. */
  async buildSigned(address: string, call: TemplateCall, proposer: AccountSigner, signers: AccountSigner[], account?: { address: string; keys: RestAccountKey[]; ledger: AccountView['ledger']; reference_block_id: string }): Promise<FlowTransaction> {
    const acct = account ?? (await this.getAccount(address));
    const pk = acct.keys.find((k) => Number(k.index) === proposer.keyIndex);
    if (!pk) throw new LatchError('unknown_key', `account ${acct.address} has no key ${proposer.keyIndex}`);
    let tx = templateTransaction({
      network: acct.ledger === 'embedded' ? 'emulator' : 'testnet',
      call,
      referenceBlockId: acct.reference_block_id,
      proposalKey: { address: acct.address, keyIndex: proposer.keyIndex, sequenceNumber: Number(pk.sequence_number) },
      payer: acct.address,
      authorizer: acct.address,
    });
    for (const s of signers) {
      const sig = await s.signer.sign(envelopeMessage(tx));
      tx = normalizeTransaction({ ...tx, envelopeSignatures: [...tx.envelopeSignatures, { address: acct.address, keyIndex: s.keyIndex, signature: bytesToHex(sig) }] });
    }
    return tx;
  }

  /** Device signs, server co-signs, ledger applies. */
  async transfer(opts: { address: string; to: string; amount: string; device: AccountSigner }): Promise<SentTransactionView> {
    const call: TemplateCall = { kind: 'transfer', amount: parseAmount(opts.amount), to: parseFlowAddress(opts.to) };
    const tx = await this.buildSigned(opts.address, call, opts.device, [opts.device]);
    return this.cosignTransaction(opts.address, tx);
  }

  /** After self-custody (or to avoid the server): two user keys sign; the server only forwards. */
  async transferWithTwoKeys(opts: { address: string; to: string; amount: string; first: AccountSigner; second: AccountSigner }): Promise<SentTransactionView> {
    const call: TemplateCall = { kind: 'transfer', amount: parseAmount(opts.amount), to: parseFlowAddress(opts.to) };
    const tx = await this.buildSigned(opts.address, call, opts.first, [opts.first, opts.second]);
    return this.submitTransaction(opts.address, tx);
  }

  async cosignTransaction(address: string, tx: FlowTransaction): Promise<SentTransactionView> {
    return this.#call('POST', `/accounts/${parseFlowAddress(address)}/cosign`, { transaction: toRestTransaction(tx) });
  }

  async submitTransaction(address: string, tx: FlowTransaction): Promise<SentTransactionView> {
    return this.#call('POST', `/accounts/${parseFlowAddress(address)}/submit`, { transaction: toRestTransaction(tx) });
  }

  /** Revoke a key (a lost device): device key + server key. */
  async revoke(opts: { address: string; keyIndex: number; device: AccountSigner }): Promise<SentTransactionView> {
    const tx = await this.buildSigned(opts.address, { kind: 'revoke-key', keyIndex: opts.keyIndex }, opts.device, [opts.device]);
    return this.cosignTransaction(opts.address, tx);
  }

  /** Revoke the server key: from then on two user keys sign. */
  async selfCustody(opts: { address: string; device: AccountSigner }): Promise<SentTransactionView> {
    const acct = await this.getAccount(opts.address);
    const server = acct.keys.find((k) => k.role === 'server' && !k.revoked);
    if (!server) throw new LatchError('already_self_custody', 'the account has no active server key');
    const tx = await this.buildSigned(opts.address, { kind: 'revoke-key', keyIndex: Number(server.index) }, opts.device, [opts.device], acct);
    return this.cosignTransaction(opts.address, tx);
  }

  /** Adds a recovery key to an account created without one (device + server sign). */
  async addRecoveryKey(opts: { address: string; recoveryPublicKey: string; device: AccountSigner }): Promise<SentTransactionView> {
    const call: TemplateCall = { kind: 'add-key', key: { publicKey: opts.recoveryPublicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT } };
    const tx = await this.buildSigned(opts.address, call, opts.device, [opts.device]);
    return this.cosignTransaction(opts.address, tx);
  }

  // ---- two devices sign (2FA, no server key) ----

  /** This device signs and asks the account's other devices (through the relay) to co-sign. */
  async requestSignature(address: string, tx: FlowTransaction): Promise<{ request_id: string; expires_at: number }> {
    return this.#call('POST', `/accounts/${parseFlowAddress(address)}/sign-requests`, { transaction: toRestTransaction(tx) });
  }

  async signRequestStatus(requestId: string): Promise<{ status: 'pending' | 'completed' | 'denied' | 'expired'; expires_at: number; id?: string; transaction?: RestTransaction }> {
    return this.#call('GET', `/sign-requests/${requestId}`);
  }

  /** After self-custody: a transfer signed by this device and, once it approves, another device. */
  async transferWithTwoDevices(opts: { address: string; to: string; amount: string; device: AccountSigner; pollMs?: number }): Promise<SentTransactionView> {
    const call: TemplateCall = { kind: 'transfer', amount: parseAmount(opts.amount), to: parseFlowAddress(opts.to) };
    const tx = await this.buildSigned(opts.address, call, opts.device, [opts.device]);
    return this.#withOtherDevice(opts.address, tx, opts.pollMs);
  }

  /** Asks the account's other devices to add the second signature and waits for it. */
  async #withOtherDevice(address: string, tx: FlowTransaction, pollMs = 500): Promise<SentTransactionView> {
    const { request_id } = await this.requestSignature(address, tx);
    for (;;) {
      const s = await this.signRequestStatus(request_id);
      if (s.status === 'completed') return { id: s.id!, transaction: s.transaction!, status: 'sealed' };
      if (s.status !== 'pending') throw new LatchError(`request_${s.status}`, `the other device's signature was not given (${s.status})`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  // ---- account linking (Hybrid Custody; docs/CUSTODY.md "Account linking") ----

  /**
   * The child (this account) publishes a capability on itself to `parent`: the device signs and
   * the server co-signs, for the parent named in the request only. After self-custody another
   * device of the account adds the second signature instead. Linking twice sends nothing.
   */
  async linkParent(opts: { address: string; parent: string; device: AccountSigner; pollMs?: number }): Promise<LinkResult> {
    return this.#linkChange('link', opts);
  }

  /** The child takes the capability back: the parent loses access at once. */
  async unlinkParent(opts: { address: string; parent: string; device: AccountSigner; pollMs?: number }): Promise<LinkResult> {
    return this.#linkChange('unlink', opts);
  }

  async #linkChange(kind: 'link' | 'unlink', opts: { address: string; parent: string; device: AccountSigner; pollMs?: number }): Promise<LinkResult> {
    const parent = parseFlowAddress(opts.parent);
    const acct = await this.getAccount(opts.address);
    const linked = acct.parents.find((p) => p.address === parent);
    if (kind === 'link' && linked) return { parent, state: linked.state, already: true };
    const tx = await this.buildSigned(acct.address, { kind, parent }, opts.device, [opts.device], acct);
    if (acct.self_custody) {
      const sent = await this.#withOtherDevice(acct.address, tx, opts.pollMs);
      return { parent, state: kind === 'link' ? 'published' : 'unlinked', already: false, ...sent };
    }
    return this.#call('POST', `/accounts/${acct.address}/${kind === 'link' ? 'links' : 'unlinks'}`, { parent, transaction: toRestTransaction(tx) });
  }

  /** Any account of the server's ledger (no login needed). */
  async getLedgerAccount(address: string): Promise<LedgerAccountView> {
    return this.#call('GET', `/ledger/accounts/${parseFlowAddress(address)}`, undefined, false);
  }

  /** Embedded ledger: a parent account held by this one key alone, at weight 1000. */
  async createSelfCustodyAccount(opts: { publicKey: string; signatureAlgorithm: 'ECDSA_P256' | 'ECDSA_secp256k1'; hashAlgorithm: 'SHA2_256' | 'SHA3_256' }): Promise<{ address: string }> {
    return this.#call('POST', '/self-custody-accounts', { public_key: opts.publicKey, signature_algorithm: opts.signatureAlgorithm, hash_algorithm: opts.hashAlgorithm });
  }

  /** The parent claims the capability `child` published to it; signed by the parent alone. */
  async redeemChild(opts: { child: string; parent: ParentSigner }): Promise<SentTransactionView> {
    return this.#asParent({ kind: 'redeem', child: parseFlowAddress(opts.child) }, opts.parent);
  }

  /** The parent moves the child's FLOW by its own signature: no device key, no co-sign. */
  async transferFromChild(opts: { child: string; to: string; amount: string; parent: ParentSigner }): Promise<SentTransactionView> {
    return this.#asParent({ kind: 'child-transfer', child: parseFlowAddress(opts.child), to: parseFlowAddress(opts.to), amount: parseAmount(opts.amount) }, opts.parent);
  }

  async #asParent(call: TemplateCall, parent: ParentSigner): Promise<SentTransactionView> {
    const acct = await this.getLedgerAccount(parent.address);
    const signer: AccountSigner = { keyIndex: parent.keyIndex, signer: { publicKey: '', sign: (m) => parent.sign(m) } };
    const tx = await this.buildSigned(acct.address, call, signer, [signer], acct);
    return this.#call('POST', '/ledger/transactions', { transaction: toRestTransaction(tx) }, false);
  }

  /**
   * The other device approves a request: it signs the envelope message it computes itself from
   * the transaction it was shown (the caller decodes and shows it first).
   */
  async approveSignRequest(opts: { requestId: string; transaction: RestTransaction; device: AccountSigner }): Promise<SentTransactionView> {
    const tx = normalizeTransaction(fromRestTransaction(opts.transaction));
    const sig = await opts.device.signer.sign(envelopeMessage(tx));
    return this.#call('POST', `/sign-requests/${opts.requestId}/approve`, { key_index: opts.device.keyIndex, signature: bytesToHex(sig) });
  }

  async denySignRequest(requestId: string): Promise<void> {
    await this.#call('POST', `/sign-requests/${requestId}/deny`, {});
  }

  // ---- join (2FA) ----

  /** The new device asks to join; the account's devices are told through the relay. */
  async join(address: string, deviceName: string): Promise<{ join_id: string; expires_at: number }> {
    return this.#call('POST', `/accounts/${parseFlowAddress(address)}/joins`, { device_name: deviceName });
  }

  async joinStatus(joinId: string): Promise<JoinStatus> {
    const s = await this.#call<JoinStatus>('GET', `/joins/${joinId}`);
    if (s.access_token && s.refresh_token) await this.#tokens(s as TokenPair);
    return s;
  }

  /** Polls until approved (resolves), denied or expired (throws). */
  async waitForJoin(joinId: string, opts: { pollMs?: number; signal?: AbortSignal } = {}): Promise<JoinStatus> {
    for (;;) {
      const s = await this.joinStatus(joinId);
      if (s.status === 'approved') return s;
      if (s.status !== 'pending') throw new LatchError(`join_${s.status}`, `the join request was ${s.status}`);
      if (opts.signal?.aborted) throw new LatchError('aborted', 'stopped waiting');
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  }

  /**
   * An existing device approves: it builds the add-key transaction ITSELF from the joining
   * device's public key (as the notice shows it), signs it, and the server co-signs.
   */
  async approveJoin(opts: { joinId: string; address: string; newDevicePublicKey: string; device: AccountSigner }): Promise<SentTransactionView & { key_index: number }> {
    const call: TemplateCall = { kind: 'add-key', key: { publicKey: opts.newDevicePublicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT } };
    const tx = await this.buildSigned(opts.address, call, opts.device, [opts.device]);
    return this.#call('POST', `/joins/${opts.joinId}/approve`, { transaction: toRestTransaction(tx) });
  }

  async denyJoin(joinId: string): Promise<void> {
    await this.#call('POST', `/joins/${joinId}/deny`, {});
  }

  // ---- recovery ----

  #recoveryTx(address: string, recovery: AccountSigner, newDevicePublicKey: string, account?: AccountView): Promise<FlowTransaction> {
    const call: TemplateCall = { kind: 'add-key', key: { publicKey: newDevicePublicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT } };
    return this.buildSigned(address, call, recovery, [recovery], account);
  }

  /**
   * Recovery kit + server key add this device's key, after the server's recovery delay.
   * The caller must be logged in (as the account's owner) with the new device key, and needs
   * the public account view; the server answers `pending` (with ready_at) or `completed`.
   */
  async recover(opts: { address: string; recovery: AccountSigner; newDevicePublicKey: string; deviceName: string; account: AccountView }): Promise<RecoveryView> {
    const tx = await this.#recoveryTx(opts.address, opts.recovery, opts.newDevicePublicKey, opts.account);
    const out = await this.#call<RecoveryView>('POST', `/accounts/${parseFlowAddress(opts.address)}/recoveries`, { transaction: toRestTransaction(tx), device_name: opts.deviceName });
    if (out.access_token && out.refresh_token) await this.#tokens(out as TokenPair);
    return out;
  }

  async completeRecovery(opts: { recoveryId: string; address: string; recovery: AccountSigner; newDevicePublicKey: string; account: AccountView }): Promise<RecoveryView> {
    const tx = await this.#recoveryTx(opts.address, opts.recovery, opts.newDevicePublicKey, opts.account);
    const out = await this.#call<RecoveryView>('POST', `/recoveries/${opts.recoveryId}/complete`, { transaction: toRestTransaction(tx) });
    if (out.access_token && out.refresh_token) await this.#tokens(out as TokenPair);
    return out;
  }

  async cancelRecovery(recoveryId: string): Promise<void> {
    await this.#call('POST', `/recoveries/${recoveryId}/cancel`, {});
  }
}

/** An inbox registration signed by the device key (custody/inbox-signature.ts). */
export async function signInbox(device: CustodySigner, account: string | null, inbox: DeviceInbox, signedAt = Math.floor(Date.now() / 1000)): Promise<SignedDeviceInbox> {
  const plain: DeviceInbox = { relay_url: inbox.relay_url, queue_id: inbox.queue_id, box_public_key: inbox.box_public_key };
  const sig = await device.sign(inboxMessage({ account, device: device.publicKey, inbox: plain, signedAt }));
  return { ...plain, signed_at: signedAt, signature: bytesToHex(sig) };
}
