/**
 * The custody notices an authenticator receives (docs/CUSTODY.md "Join", "Recover",
 * "Self-custody"), handled the same way by `latch device run` (custody-notices.ts) and the web
 * authenticator (src/web/web-custody-notices.ts). Pure and browser-safe: no keystore, no
 * node: modules; the caller supplies the signer, the custody client and how to ask the user.
 *
 *   - custody-join: the new device's name, where it asked from, and the time left; on approval
 *     the add-key transaction is built HERE from the notice's public key (the server only sees
 *     the signature), then the server co-signs.
 *   - custody-sign (after self-custody): the transaction is decoded from itself, never from the
 *     server's words; only Latch's own templates are signed.
 *   - custody-recovery: a warning with the way to cancel.
 *   - custody-key-revoked: a warning that a key was revoked (already done; nothing to answer).
 * Messages are acknowledged only after they were handled, like the pairing inboxes.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { openBoxedMessage } from '../protocol/envelope.js';
import type { QueueKeyPair } from '../protocol/queue-id.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import type { CustodyClient } from '../sdk/custody-client.js';
import type { DeviceNotice } from '../custody/custody-api.js';
import type { CustodySigner } from './custody-device-key.js';
import type { StoredCustodyInbox } from './custody-state.js';
import { fromRestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { normalizeTransaction } from '../ledger/flow/flow-transaction.js';
import { findTemplate, parseTemplateCall, type TemplateCall } from '../ledger/flow/cadence-templates.js';
import { FULL_WEIGHT, HASH_ALGO_SHA2_256, HASH_ALGO_SHA3_256, SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1, type NewFlowAccountKey } from '../ledger/flow/flow-account-key.js';
import { CUSTODY_KEY_WEIGHT } from '../custody/custody-api.js';
import { keyFingerprint } from '../custody/key-fingerprint.js';

export type JoinNotice = Extract<DeviceNotice, { type: 'custody-join' }>;
export type SignNotice = Extract<DeviceNotice, { type: 'custody-sign' }>;
export type RecoveryNotice = Extract<DeviceNotice, { type: 'custody-recovery' }>;
export type KeyRevokedNotice = Extract<DeviceNotice, { type: 'custody-key-revoked' }>;

/** The user's answer to a join or signature request; 'expired' = no answer in time (nothing is sent). */
export type NoticeAnswer = 'approve' | 'deny' | 'expired';

/** What became of a notice, for a history or a log. */
export interface NoticeOutcome {
  notice: DeviceNotice;
  outcome: 'approved' | 'denied' | 'expired' | 'ignored' | 'refused' | 'shown' | 'failed';
  /** A person's reading: what was asked, or why it failed. */
  detail: string;
}

export interface NoticeHandlerDeps {
  client: CustodyClient;
  /** This device's account and key there. */
  account: string;
  keyIndex: number;
  signer: CustodySigner;
  log: (line: string) => void;
  askJoin(n: JoinNotice, secondsLeft: number): Promise<NoticeAnswer>;
  askSign(n: SignNotice, what: string, secondsLeft: number): Promise<NoticeAnswer>;
  /** Show the recovery warning (it needs no answer: cancelling is a separate action). */
  showRecovery?(n: RecoveryNotice): void | Promise<void>;
  /** Show that a key was revoked (`text`: keyRevokedWarning as seen by this device). */
  showRevoked?(n: KeyRevokedNotice, text: string): void | Promise<void>;
  outcome?(o: NoticeOutcome): void | Promise<void>;
  now?: () => number;
}

export function parseNotice(bytes: Uint8Array): DeviceNotice {
  const n = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as DeviceNotice;
  if (n?.type === 'custody-join') {
    if (typeof n.join_id !== 'string' || typeof n.account !== 'string' || typeof n.device_name !== 'string' || !/^[0-9a-f]{128}$/.test(String(n.device_public_key)) || typeof n.expires_at !== 'number' || typeof n.origin !== 'string') throw new Error('bad join notice');
    if (n.requested_at !== undefined && typeof n.requested_at !== 'number') throw new Error('bad join notice');
    if (n.name_clash !== undefined && (n.name_clash === null || (n.name_clash.kind !== 'same' && n.name_clash.kind !== 'confusable') || typeof n.name_clash.with !== 'string')) throw new Error('bad join notice');
    return n;
  }
  if (n?.type === 'custody-sign' && typeof n.request_id === 'string' && typeof n.account === 'string' && typeof n.expires_at === 'number' && n.transaction !== null && typeof n.transaction === 'object') return n;
  if (n?.type === 'custody-recovery' && typeof n.recovery_id === 'string' && typeof n.ready_at === 'number') return n;
  if (n?.type === 'custody-key-revoked') {
    const optionalText = (v: unknown): boolean => v === undefined || typeof v === 'string';
    if (typeof n.account !== 'string' || !Number.isInteger(n.key_index) || n.key_index < 0 || !['device', 'recovery', 'server', 'unknown'].includes(n.role) || typeof n.device_name !== 'string' || typeof n.revoked_at !== 'number' || !optionalText(n.key_fingerprint) || !optionalText(n.revoked_name)) throw new Error('bad key-revoked notice');
    return n;
  }
  throw new Error('unknown notice');
}

/**
 * What a join card shows (issue 15 §4), shared by `latch device run` and the web card: the name
 * the new device gave itself, marked when it equals or looks like a device the account has; the
 * new key's fingerprint, computed here from the key this device will sign into the account; and
 * what the server observed, labelled as the server's word.
 */
export function joinCardLines(n: JoinNotice): string[] {
  const clash = n.name_clash;
  return [
    `New device, as it names itself: "${n.device_name}"`,
    ...(clash ? [`WARNING: this name ${clash.kind === 'same' ? 'is the same as' : 'looks like'} your existing device "${clash.with}". It is a NEW key, not that device.`] : []),
    `New key: ${keyFingerprint(n.device_public_key)}`,
    `Seen by the server: request from ${n.origin}${n.requested_at !== undefined ? ` at ${new Date(n.requested_at * 1000).toISOString()}` : ''}`,
    `Account: ${n.account}`,
  ];
}

/** The question a join asks, in the words `latch device run` prints. */
export function joinQuestion(n: JoinNotice): string {
  return `Add device "${n.device_name}" to account ${n.account}? ${joinCardLines(n).slice(1).join('; ')}.`;
}

/** A recovery notice's one-line title (History, the web app's warning): which change it announces. */
export function recoveryTitle(n: RecoveryNotice): string {
  if (n.change === 'link') return `Link of account ${n.account} to parent ${String(n.parent)}, asked for by "${n.device_name}": ${String(n.parent)} would be able to move everything in it`;
  if (n.change === 'recovery-key') return `New recovery key for account ${n.account}, asked for by "${n.device_name}"`;
  return `Recovery of account ${n.account} started by a new device "${n.device_name}"`;
}

/**
 * What a revocation notice says, to the device `ownKeyIndex` (docs/CUSTODY.md "Revoking a key"):
 * which key, what it was, which device revoked it, and what to do if that was not the user.
 */
export function keyRevokedWarning(n: KeyRevokedNotice, ownKeyIndex: number | undefined): string {
  const key = `key ${n.key_index}${n.key_fingerprint ? ` (${n.key_fingerprint})` : ''}`;
  const by = `by "${n.device_name}" at ${new Date(n.revoked_at * 1000).toISOString()}`;
  const notYou = 'If this was not you, someone holds that device: revoke it from a device you hold (latch account show, then latch account revoke --key N) or recover with your recovery kit (latch account recover).';
  if (n.role === 'device' && n.key_index === ownKeyIndex) return `THIS DEVICE WAS REVOKED from account ${n.account} (${key}) ${by}: it can no longer sign for it. ${notYou}`;
  if (n.role === 'device') return `DEVICE "${n.revoked_name ?? 'unnamed'}" REVOKED from account ${n.account} (${key}) ${by}. ${notYou}`;
  if (n.role === 'recovery') return `RECOVERY KEY REVOKED on account ${n.account} (${key}) ${by}: the account has no recovery key now, and losing your devices would lose it. ${notYou}`;
  if (n.role === 'server') return `SERVER KEY REVOKED on account ${n.account} (${key}) ${by}: the account left custody, and from now on two of your own keys sign, with no server limits.`;
  return `KEY REVOKED on account ${n.account} (${key}) ${by}.`;
}

/** A revocation notice's one-line title (History). */
export function keyRevokedTitle(n: KeyRevokedNotice): string {
  const what = n.role === 'device' ? `Device "${n.revoked_name ?? 'unnamed'}"` : n.role === 'recovery' ? 'The recovery key' : n.role === 'server' ? "The server's key" : `Key ${n.key_index}`;
  return `${what} of account ${n.account} was revoked by "${n.device_name}"`;
}

/** The recovery warning with the way to cancel it. */
export function recoveryWarning(n: RecoveryNotice): string {
  if (n.change === 'link') {
    const when = n.ready_at * 1000 > Date.now() ? `it takes effect from ${new Date(n.ready_at * 1000).toISOString()}` : 'it may take effect at once';
    return `NEW LINK of account ${n.account} to parent ${String(n.parent)}, asked for by "${n.device_name}"; ${when}. ` +
      `${String(n.parent)} will be able to move everything in this account. If this was not you, cancel it: latch account recover --cancel ${n.recovery_id}`;
  }
  if (n.change === 'recovery-key') {
    const when = n.ready_at * 1000 > Date.now() ? `it can be added from ${new Date(n.ready_at * 1000).toISOString()}` : 'it may be added at once';
    return `NEW RECOVERY KEY ${String(n.key_fingerprint)} for account ${n.account}, asked for by "${n.device_name}"; ${when}. ` +
      `With it and one device, the server's limits no longer apply. If this was not you, cancel it: latch account recover --cancel ${n.recovery_id} ` +
      '(once added, revoke it: latch account show, then latch account revoke --key N)';
  }
  return `RECOVERY of account ${n.account} started by a new device "${n.device_name}"; it completes at ${new Date(n.ready_at * 1000).toISOString()}. ` +
    `If this was not you, cancel it: latch account recover --cancel ${n.recovery_id}`;
}

/**
 * What a signature request's transaction does, read from the transaction itself; undefined
 * when it is not for this account or not one of Latch's templates (then it must be refused).
 */
export function describeSignRequest(n: SignNotice, account: string): { what: string; account: string } | { refuse: string } {
  const tx = normalizeTransaction(fromRestTransaction(n.transaction));
  if (tx.payer !== account || tx.authorizers.length !== 1 || tx.authorizers[0] !== account) return { refuse: 'a signature request for another account' };
  // Only Latch's own templates are ever signed; which network's they are does not matter here.
  const network = (['emulator', 'testnet', 'mainnet'] as const).find((nw) => findTemplate(nw, tx.script) !== undefined);
  if (!network) return { refuse: 'a signature request for a script that is not a Latch template' };
  const call = parseTemplateCall(network, tx.script, tx.arguments);
  const what = describeCall(call, tx.payer);
  // The account is the one the transaction acts on (its payer and sole authorizer, checked
  // above), never the notice's `account` field: that is the server's word, not what is signed.
  return { what, account: tx.payer };
}

/** What a template call does, in the words the cards show. */
function describeCall(call: TemplateCall, account: string): string {
  switch (call.kind) {
    case 'transfer':
      return `transfer ${call.amount} FLOW to ${call.to}`;
    case 'revoke-key':
      return `revoke key ${call.keyIndex}`;
    case 'add-key':
      return describeNewKey(call.key);
    case 'link':
      return linkCardLines(call.parent, account).join(' ');
    case 'unlink':
      return `UNLINK parent ${call.parent}: it loses access to this account at once`;
    case 'redeem':
      return `redeem the link of child account ${call.child}`;
    case 'child-transfer':
      return `as parent, transfer ${call.amount} FLOW from child ${call.child} to ${call.to}`;
  }
}

/**
 * The link card (issue 13), the same words in the terminal and the web app: linking gives the
 * parent the child's whole account (Hybrid Custody with the AllowAllFilter), so it says so plainly.
 */
export function linkCardLines(parent: string, account: string): string[] {
  return [
    `LINK account ${account} to parent ${parent}.`,
    `${parent} will be able to move everything in this account`,
    // An unlink asserts that the parent's Manager no longer holds the child; a parent with no
    // Manager yet (it never redeemed anything) makes it fail (parent_has_no_manager), so the
    // published capability cannot be taken back until the parent redeems (docs/CUSTODY.md).
    `(its own signature alone: no device, no server, no limits). Until ${parent} redeems it, anyone holding ${parent}'s key can claim it. ` +
      `Undo after ${parent} redeems: latch account unlink --parent ${parent}`,
  ];
}

const SIGN_ALGO_NAMES: Record<number, string> = { [SIGN_ALGO_ECDSA_P256]: 'ECDSA P-256', [SIGN_ALGO_ECDSA_SECP256K1]: 'ECDSA secp256k1' };
const HASH_ALGO_NAMES: Record<number, string> = { [HASH_ALGO_SHA2_256]: 'SHA2-256', [HASH_ALGO_SHA3_256]: 'SHA3-256' };

/**
 * Everything an add-key grants: which key, its algorithms and its weight. Custody keys weigh
 * CUSTODY_KEY_WEIGHT (500: any two of device, server and recovery key reach Flow's 1000); any
 * other weight is flagged, and one of FULL_WEIGHT or more is said to control the account alone
 * (docs/CUSTODY.md; Flow: a transaction needs signatures of total weight >= 1000).
 */
function describeNewKey(key: NewFlowAccountKey): string {
  const algos = `${SIGN_ALGO_NAMES[key.signAlgo] ?? `signature algorithm ${key.signAlgo}`}, ${HASH_ALGO_NAMES[key.hashAlgo] ?? `hash algorithm ${key.hashAlgo}`}`;
  const hex = key.publicKey;
  const text = `add key ${keyFingerprint(hex)} (${hex.slice(0, 16)}...${hex.slice(-16)}; ${algos}), weight ${key.weight}`;
  if (key.weight >= FULL_WEIGHT) return `${text} - WARNING: not the usual ${CUSTODY_KEY_WEIGHT}; a key of weight ${FULL_WEIGHT} alone controls the whole account`;
  if (key.weight !== CUSTODY_KEY_WEIGHT) return `${text} - WARNING: not the usual ${CUSTODY_KEY_WEIGHT}`;
  return text;
}

/** Handle one notice: ask, then approve (signing here) or deny. Errors go to the outcome, not up. */
export async function handleNotice(n: DeviceNotice, d: NoticeHandlerDeps): Promise<NoticeOutcome> {
  const now = d.now ?? (() => Math.floor(Date.now() / 1000));
  const done = async (outcome: NoticeOutcome['outcome'], detail: string): Promise<NoticeOutcome> => {
    const o = { notice: n, outcome, detail };
    await d.outcome?.(o);
    return o;
  };
  try {
    if (n.type === 'custody-recovery') {
      const text = recoveryWarning(n);
      d.log(`custody: ${text}`);
      await d.showRecovery?.(n);
      return done('shown', text);
    }
    if (n.type === 'custody-key-revoked') {
      // The notice names its account; this device's own key index means something only there.
      const text = keyRevokedWarning(n, n.account === d.account ? d.keyIndex : undefined);
      d.log(`custody: ${text}`);
      await d.showRevoked?.(n, text);
      return done('shown', text);
    }
    const left = n.expires_at - now();
    if (n.type === 'custody-sign') {
      const r = describeSignRequest(n, d.account);
      if ('refuse' in r) {
        const other = r.refuse.includes('another account');
        d.log(`custody: ${r.refuse}; ${other ? 'ignored' : 'refused'}`);
        if (!other) await d.client.denySignRequest(n.request_id).catch(() => undefined);
        return done(other ? 'ignored' : 'refused', r.refuse);
      }
      d.log(`custody: signature request from "${n.device_name}" for account ${r.account}: ${r.what}, ${Math.max(0, left)} s left`);
      if (left <= 0) return done('expired', r.what);
      // Whoever shows the question reads the account from the transaction, not from the server.
      const answer = await d.askSign({ ...n, account: r.account }, r.what, left);
      if (answer !== 'approve') {
        if (answer === 'deny') await d.client.denySignRequest(n.request_id).catch(() => undefined);
        d.log(`custody: signature request ${answer === 'deny' ? 'denied' : 'expired'}; nothing changes`);
        return done(answer === 'deny' ? 'denied' : 'expired', r.what);
      }
      const out = await d.client.approveSignRequest({ requestId: n.request_id, transaction: n.transaction, device: { keyIndex: d.keyIndex, signer: d.signer } });
      d.log(`custody: signed; transaction ${out.id}`);
      return done('approved', `${r.what} (transaction ${out.id})`);
    }
    d.log(`custody: join request for account ${n.account}: device "${n.device_name}" from ${n.origin}, ${Math.max(0, left)} s left`);
    if (left <= 0) {
      d.log('custody: the join request has expired; nothing changes');
      return done('expired', 'the request had expired');
    }
    if (n.account !== d.account) {
      d.log('custody: the join request is for another account; ignored');
      return done('ignored', 'for another account');
    }
    const answer = await d.askJoin(n, left);
    if (answer !== 'approve') {
      if (answer === 'deny') await d.client.denyJoin(n.join_id).catch(() => undefined);
      d.log(`custody: join ${answer === 'deny' ? 'denied' : 'expired'}; nothing changes`);
      return done(answer === 'deny' ? 'denied' : 'expired', 'nothing changed');
    }
    const out = await d.client.approveJoin({ joinId: n.join_id, address: d.account, newDevicePublicKey: n.device_public_key, device: { keyIndex: d.keyIndex, signer: d.signer } });
    d.log(`custody: join approved; "${n.device_name}" is key ${out.key_index} (transaction ${out.id})`);
    return done('approved', `key ${out.key_index}`);
  } catch (e) {
    d.log(`custody: could not finish: ${(e as Error).message}`);
    return done('failed', (e as Error).message);
  }
}

/**
 * Wait on the custody inbox and hand each opened notice to `handle`, one at a time; a message
 * is acked after it was handled (or when it cannot be opened: it never will be).
 */
export async function serveCustodyInbox(opts: {
  sodium: Sodium;
  relay: RelayClient;
  inbox: StoredCustodyInbox;
  serverBoxPublicKey: string;
  signal: AbortSignal;
  log: (line: string) => void;
  handle: (n: DeviceNotice) => Promise<unknown>;
  onStatus?: (s: 'connected' | 'disconnected') => void;
}): Promise<void> {
  const { sodium, relay, inbox, log } = opts;
  const queue: QueueKeyPair = { publicKey: decodeBase64url(inbox.queuePublicKey), secretKey: decodeBase64url(inbox.queueSecretKey) };
  try {
    for await (const { message } of relay.inboxes([queue], { signal: opts.signal, onError: (e) => log(`custody: cannot read notices from the relay (${e.code}: ${e.message}); retrying`), ...(opts.onStatus ? { onStatus: opts.onStatus } : {}) })) {
      try {
        // crypto_box from the server's X25519 key to this device's (docs/CUSTODY.md "Join").
        const notice = parseNotice(openBoxedMessage(sodium, message.body, decodeBase64url(opts.serverBoxPublicKey), decodeBase64url(inbox.boxSecretKey)));
        await opts.handle(notice);
      } catch (e) {
        log(`custody: ignored a notice: ${(e as Error).message}`);
      }
      if (opts.signal.aborted) return; // unacked: it comes back when the inbox is served again
      await relay.ack(queue, [message.id]).catch((e: Error) => log(`custody: ack failed: ${e.message}`));
    }
  } catch (e) {
    if (!opts.signal.aborted) log(`custody: inbox stopped: ${(e as Error).message}`);
  }
}
