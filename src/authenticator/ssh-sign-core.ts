/**
 * The authenticator's review and policy core for `ssh_sign` and `sign_message` (issue 3),
 * shared by `latch device run` (keystore file) and the web authenticator (IndexedDB and
 * WebCrypto): check the key, the data (no cross-protocol signing) and the session binds
 * itself; work out whether the host is verified and whether its key matches the one pinned
 * for that name; then sign if a timed approval covers the request, else ack the computer and
 * ask the user. Storage and signing are the caller's (`SshSignStore`), so both authenticators
 * apply exactly the same checks. Browser-safe: no Node APIs.
 */
import { pairingFingerprint } from './pairing-fingerprint.js';
import { LatchError } from '../util/latch-error.js';
import { ACK_EXTENSION_SECONDS } from '../protocol/protocol-constants.js';
import type { RequestTiming } from './request-core.js';
import { decodeBase64, decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { SshSessionBindWire, SshSignBody, SignMessageBody, SignResult } from '../protocol/messages.js';
import { sshFingerprint } from '../protocol/ssh/ssh-public-key.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { verifySessionBind, type SessionBind } from '../protocol/ssh/session-bind.js';
import { describeHostCertificate, parseHostKey, type HostKey } from '../protocol/ssh/ssh-certificate.js';
import { armorSshsig, buildSshsigSignedDataForMessage, encodeSshsig } from '../protocol/ssh/sshsig.js';
import { parseGitObject } from '../protocol/ssh/git-object.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import { hostVerification } from '../protocol/ssh/host-verification.js';
import type { PinnedHost, PolicyScope, StoredPairing, StoredPolicy } from './authenticator-state.js';
import { coveringPolicy, scopeFor } from './policy-book.js';
import { checkSshUserName } from './ssh-user-name.js';
import { cleanLine, describeScope, type Approver, type SignReview } from './sign-review.js';

/** What the core needs of a key: its name, type and public blob (base64, authorized_keys middle field). */
export interface SshSignKey {
  name: string;
  type: 'ssh-ed25519' | 'ecdsa-sha2-nistp256';
  publicBlob: string;
}

/** The newest stored view the review works from. */
export interface SshSignSnapshot<K extends SshSignKey> {
  keys: readonly K[];
  pinnedHosts: readonly PinnedHost[];
  policies: readonly StoredPolicy[];
  /** Pairing ids whose user opted in to timed approvals for unverified hosts. */
  allowUnverifiedFor: readonly string[];
}

/** Storage and signing: the keystore file for `latch device`, IndexedDB and WebCrypto for the page. */
export interface SshSignStore<K extends SshSignKey> {
  /** Read the newest state (another process or tab may have revoked or opted in meanwhile). */
  snapshot(): Promise<SshSignSnapshot<K>>;
  /** Pin `host` (replacing any pin of the same name). */
  pinHost(host: PinnedHost): Promise<void>;
  /** Store a timed approval (policy-book.ts grantPolicy, which also drops expired ones). */
  grantPolicy(policy: StoredPolicy, now: number): Promise<void>;
  /**
   * The SSH signature blob (RFC 4253 §6.6) over `data`. The core calls it only after the
   * cross-protocol guard has accepted `data` for this key; adapters guard again anyway.
   */
  sign(key: K, data: Uint8Array): Promise<Uint8Array>;
}

/** One finished request, for a history screen: what the card said and how it ended. */
export interface SignOutcome {
  kind: SignReview['kind'];
  title: string;
  from: string;
  outcome: string;
  /** The timed approval this answer granted, if any. */
  policyId?: string;
}

export interface SshSignCoreOptions<K extends SshSignKey> {
  store: SshSignStore<K>;
  approver: Approver;
  log: (line: string) => void;
  clock: () => number;
  /** Told of every approval, denial and refusal, including approvals by a policy (no prompt then). */
  onOutcome?: (o: SignOutcome) => void | Promise<void>;
}

/**
 * The request's session binds, each host signature checked here: the authenticator trusts no
 * one's word for a host. Throws `bad_session_bind` if one does not verify (the request is refused).
 */
export async function checkedBinds(wire: readonly SshSessionBindWire[]): Promise<SessionBind[]> {
  const binds: SessionBind[] = [];
  for (const b of wire) {
    const bind = {
      hostKeyBlob: decodeBase64url(b.host_key),
      sessionId: decodeBase64url(b.session_id),
      signature: decodeBase64url(b.signature),
      isForwarding: b.is_forwarding,
    };
    if (!(await verifySessionBind(bind))) throw new LatchError('bad_session_bind', 'a session bind does not verify: refusing to sign');
    binds.push(bind);
  }
  return binds;
}

/** known_hosts style name: "host" on port 22, else "[host]:port". */
export function pinName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function keyBlobOf(key: SshSignKey): Uint8Array {
  return decodeBase64(key.publicBlob, 'stored key');
}

/** The stored key with this public blob, or `unknown_key` at once. */
export function findSignKey<K extends SshSignKey>(keys: readonly K[], keyBlob: Uint8Array): K {
  const k = keys.find((x) => bytesEqual(keyBlobOf(x), keyBlob));
  if (!k) throw new LatchError('unknown_key', 'this authenticator has no such SSH key');
  return k;
}

export class SshSignCore<K extends SshSignKey> {
  constructor(private readonly o: SshSignCoreOptions<K>) {}

  async sshSign(pairing: StoredPairing, body: SshSignBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult> {
    const state = await this.o.store.snapshot(); // see revocations and opt-ins made by others
    const key = findSignKey(state.keys, decodeBase64url(body.key));
    const data = decodeBase64url(body.data);
    const parsed = parseSshSignDataForKey(keyBlobOf(key), data); // refuses anything not SSH, before any prompt
    const binds = await checkedBinds(body.binds);
    const optedIn = state.allowUnverifiedFor.includes(pairing.id);
    const review = newReview(pairing, key, 'ssh');
    let pin: { name: string; hostKey: Uint8Array } | undefined;
    if (parsed.kind === 'userauth') {
      const ua = parsed.userauth;
      const hv = hostVerification(ua, binds);
      const hostKeyBlob = hv.verified ? hv.hostKeyBlob : (ua.hostKeyBlob ?? binds[binds.length - 1]?.hostKeyBlob);
      // A host certificate (PROTOCOL.certkeys) is shown and pinned by the key it certifies, so a
      // renewed certificate over the same host key keeps its pin (docs/AGENT.md "Host certificates").
      const hostKey = hostKeyBlob ? hostKeyOf(hostKeyBlob) : undefined;
      try {
        checkSshUserName(ua.user);
      } catch (e) {
        this.o.log(`REFUSED login from ${pairing.computerName}: ${(e as Error).message}`);
        await this.#record({ kind: 'ssh', title: `SSH login as ${ua.user}`, from: pairing.computerName, outcome: 'refused: not a user name an SSH server accepts' });
        throw e;
      }
      review.user = ua.user;
      review.verified = hv.verified;
      review.hostKeyFingerprint = hostKey ? sshFingerprint(hostKey.keyBlob) : undefined;
      if (body.host_hint) review.host = pinName(body.host_hint.host, body.host_hint.port);
      if (hv.verified && review.host && hostKey) {
        const pinned = state.pinnedHosts.find((p) => p.name === review.host);
        if (pinned && !bytesEqual(decodeBase64url(pinned.hostKey), hostKey.keyBlob)) {
          const msg =
            `host key of ${review.host} changed: pinned ${sshFingerprint(decodeBase64url(pinned.hostKey))}, ` +
            `now ${sshFingerprint(hostKey.keyBlob)}; refusing to sign (if the change is expected: latch device host forget ${review.host})`;
          this.o.log(`REFUSED login as ${ua.user} to ${review.host} from ${pairing.computerName}: ${msg}`);
          await this.#record({ kind: 'ssh', title: `SSH login as ${ua.user}@${review.host}`, from: pairing.computerName, outcome: 'refused: host key changed' });
          throw new LatchError('host_key_changed', msg);
        }
        if (!pinned) pin = { name: review.host, hostKey: hostKey.keyBlob };
      }
      const hostText = review.host ?? `unknown host name (host key ${review.hostKeyFingerprint ?? 'not sent'})`;
      review.lines.push(
        `SSH login as ${ua.user}@${hostText}`,
        hv.verified
          ? `  host key ${review.hostKeyFingerprint}: VERIFIED (the host proved it holds this key)${pin ? ', pinned now on approval' : ''}`
          : `  host NOT VERIFIED (${unverifiedReason(hv.reason)})`,
      );
      if (hostKey?.cert) {
        const cert = hostKey.cert;
        review.lines.push(`  host certificate ${describeHostCertificate(cert)}`);
        const named = body.host_hint ? cert.principals.length === 0 || cert.principals.includes(body.host_hint.host) : undefined;
        if (named === false) review.lines.push(`  the certificate does NOT name ${body.host_hint!.host} among its principals`);
        if (BigInt(this.o.clock()) >= cert.validBefore || BigInt(this.o.clock()) < cert.validAfter) review.lines.push('  the certificate is NOT valid at this time');
      }
      if (hv.verified || optedIn) review.timedScopes = review.host ? ['host', 'ssh'] : ['ssh'];
    } else {
      review.kind = 'sshsig';
      review.namespace = parsed.sshsig.namespace;
      review.lines.push(
        `Signature (ssh-keygen -Y sign) in namespace "${parsed.sshsig.namespace}"`,
        `  over a ${parsed.sshsig.hashAlgorithm} hash only: the message itself is not shown`,
      );
    }
    review.lines.push(`  key ${key.name} (${review.keyFingerprint}), from computer "${pairing.computerName}"`);

    const { outcome, policyId } = await this.#approve(review, state, ack, timing);
    const signature = await this.o.store.sign(key, data);
    if (pin) {
      await this.o.store.pinHost({ name: pin.name, hostKey: encodeBase64url(pin.hostKey), pinnedAt: this.o.clock() });
      this.o.log(`pinned host key of ${pin.name}: ${sshFingerprint(pin.hostKey)}`);
    }
    await this.#record({ kind: review.kind, title: review.lines[0]!, from: pairing.computerName, outcome, ...(policyId ? { policyId } : {}) });
    return { signature: encodeBase64url(signature) };
  }

  async signMessage(pairing: StoredPairing, body: SignMessageBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult> {
    const state = await this.o.store.snapshot();
    const key = findSignKey(state.keys, decodeBase64url(body.key));
    const message = decodeBase64url(body.message);
    const review: SignReview = { ...newReview(pairing, key, 'message'), namespace: body.namespace };
    let git;
    try {
      git = body.namespace === 'git' ? parseGitObject(message) : undefined;
    } catch {
      git = undefined;
    }
    if (git) {
      review.kind = 'git';
      review.timedScopes = ['git'];
      review.lines.push(`Git ${git.kind} signature`);
      if (git.kind === 'tag') review.lines.push(`  tag ${git.tag ?? '?'} on ${git.type ?? '?'} ${git.object ?? '?'}`, `  tagger    ${gitIdent(git.tagger)}`);
      else {
        review.lines.push(`  author    ${gitIdent(git.author)}`, `  committer ${gitIdent(git.committer)}`);
        review.lines.push(`  parents   ${git.parents.length ? git.parents.join(', ') : '(none: first commit)'}`);
      }
      if (git.extraHeaders.length) review.lines.push(`  other headers: ${git.extraHeaders.join(', ')}`);
      review.lines.push('  message:', ...previewLines(git.message, GIT_MESSAGE_LINES));
    } else {
      review.lines.push(`Signature in namespace "${body.namespace}" over a ${message.length}-byte message`);
      const text = safeText(message);
      if (text !== undefined) review.lines.push(...previewLines(text, MESSAGE_LINES));
      else review.lines.push('  (binary message, not shown)');
    }
    review.lines.push(`  key ${key.name} (${review.keyFingerprint}), from computer "${pairing.computerName}"`);

    const { outcome, policyId } = await this.#approve(review, state, ack, timing);
    // PROTOCOL.sshsig §3: the signature is over the signed-data blob, hashed with sha512 as ssh-keygen does.
    const signed = buildSshsigSignedDataForMessage(body.namespace, message, 'sha512');
    parseSshSignDataForKey(keyBlobOf(key), signed); // the same guard as every other signature
    const signature = await this.o.store.sign(key, signed);
    await this.#record({ kind: review.kind, title: review.lines[0]!, from: pairing.computerName, outcome, ...(policyId ? { policyId } : {}) });
    return { signature: armorSshsig(encodeSshsig({ publicKey: keyBlobOf(key), namespace: body.namespace, hashAlgorithm: 'sha512', signature })) };
  }

  /** Resolves with how it was approved (by policy or by the user, and any policy granted); throws `denied` otherwise. */
  async #approve(review: SignReview, state: SshSignSnapshot<K>, ack: () => Promise<void>, timing: RequestTiming | undefined): Promise<{ outcome: string; policyId?: string }> {
    const now = this.o.clock();
    if (timing) {
      // Ghost prompts (issue 12): show how old the request is; one older than the time its
      // computer waits gets no timed approval, so a stale or planted request cannot win one.
      const age = Math.max(0, now - timing.sentAt);
      review.sentAt = timing.sentAt;
      if (age > timing.timeoutSeconds) {
        review.lines.push(`  sent ${ageText(age)} ago, longer than the ${ageText(timing.timeoutSeconds)} its computer waits: approve once or deny only`);
        if (review.timedScopes.length) review.noTimedReason = 'the request is older than its sign timeout';
        review.timedScopes = [];
      } else review.lines.push(`  sent ${ageText(age)} ago`);
    }
    const policy = coveringPolicy({ policies: [...state.policies] }, review, now);
    if (policy) {
      this.o.log(`approved by policy ${policy.id} (${describeScope(policy.scope)}, ${policy.expiresAt - now} s left): ${review.lines[0]}`);
      return { outcome: `approved by policy ${policy.id} (${describeScope(policy.scope)})` };
    }
    if (this.o.approver.interactive) {
      // The ack makes the computer wait ACK_EXTENSION_SECONDS more, and no longer: a prompt still
      // queued after that is for nobody and is dropped unseen (sign-review.ts expiredUnseen).
      review.expiresAt = this.o.clock() + ACK_EXTENSION_SECONDS;
      await ack().catch((e: unknown) => this.o.log(`could not send the ack: ${(e as Error).message}`));
    }
    else for (const l of review.lines) this.o.log(`  ${cleanLine(l)}`); // unattended: keep a record of what was signed
    const decision = await this.o.approver.ask(review);
    if (decision.kind === 'deny') {
      this.o.log(`denied: ${review.lines[0]}${decision.reason ? ` (${decision.reason})` : ''}`);
      await this.#record({ kind: review.kind, title: review.lines[0]!, from: review.computerName, outcome: `denied${decision.reason ? ` (${decision.reason})` : ''}` });
      throw new LatchError('denied', `denied on the authenticator${decision.reason ? ` (${decision.reason})` : ''}`);
    }
    let outcome = 'approved once';
    let policyId: string | undefined;
    if (decision.kind === 'timed') {
      if (!review.timedScopes.includes(decision.scope)) {
        this.o.log(`a timed approval (${decision.scope}) is not available for this request: approved once only`);
      } else {
        const scope: PolicyScope = scopeFor(decision.scope, review);
        // Only needs to be unique among this authenticator's policies; randomUUID is in Node 20 and browsers.
        const id = globalThis.crypto.randomUUID().slice(0, 8);
        await this.o.store.grantPolicy({ id, pairingId: review.pairingId, computerName: review.computerName, scope, createdAt: now, expiresAt: now + decision.seconds }, now);
        this.o.log(`policy ${id}: ${describeScope(scope)} for ${decision.seconds} s (computer "${review.computerName}")`);
        outcome = `approved for ${durationText(decision.seconds)} (${describeScope(scope)})`;
        policyId = id;
      }
    }
    this.o.log(`approved: ${review.lines[0]}`);
    return policyId ? { outcome, policyId } : { outcome };
  }

  async #record(o: SignOutcome): Promise<void> {
    try {
      await this.o.onOutcome?.(o);
    } catch (e) {
      this.o.log(`could not record the outcome: ${(e as Error).message}`);
    }
  }
}

/** A host key blob as the request carries it; one that does not parse is shown as sent. */
function hostKeyOf(blob: Uint8Array): HostKey {
  try {
    return parseHostKey(blob);
  } catch {
    return { blob, keyBlob: blob };
  }
}

/** A request's age for a person: seconds under a minute, then whole minutes, then hours. */
function ageText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function durationText(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function unverifiedReason(reason: 'no-bind' | 'forwarded' | 'not-hostbound' | 'mismatch'): string {
  switch (reason) {
    case 'no-bind':
      return 'ssh sent no session-bind: OpenSSH older than 8.9?';
    case 'forwarded':
      return 'the request comes through a forwarded agent';
    case 'not-hostbound':
      return 'ssh did not use the host-bound userauth method';
    case 'mismatch':
      return 'the request does not match the bound session';
  }
}

function safeText(bytes: Uint8Array): string | undefined {
  try {
    const t = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return /[\x00-\x08\x0b-\x1f\x7f]/.test(t) ? undefined : t;
  } catch {
    return undefined;
  }
}

/**
 * A git ident line ("Name <email> 1795443186 +0000") with its time made readable in its own
 * zone ("Name <email>, 2026-11-19 10:33:06 +0000"); shown as sent where it does not parse.
 */
export function gitIdent(ident: string | undefined): string {
  if (ident === undefined) return '?';
  const m = /^(.*) ([0-9]{1,12}) ([+-])([0-9]{2})([0-9]{2})$/.exec(ident);
  if (!m) return ident;
  const offsetMinutes = (m[3] === '-' ? -1 : 1) * (Number(m[4]) * 60 + Number(m[5]));
  const local = new Date((Number(m[2]) + offsetMinutes * 60) * 1000);
  if (Number.isNaN(local.getTime())) return ident;
  return `${m[1]}, ${local.toISOString().slice(0, 19).replace('T', ' ')} ${m[3]}${m[4]}${m[5]}`;
}

/** How much of a git commit/tag message, and of any other signed text, a review shows. */
const GIT_MESSAGE_LINES = 20;
const MESSAGE_LINES = 12;

/**
 * The first `max` lines of a signed text, quoted; when there are more, a last line says how many
 * are not shown, so the user never takes a cut text for the whole of what is signed.
 */
export function previewLines(text: string, max: number): string[] {
  const all = text.split('\n');
  // git ends a message with a newline: that empty last "line" is not hidden text.
  if (all.length > 1 && all[all.length - 1] === '') all.pop();
  const shown = all.slice(0, max).map((l) => `    | ${l}`);
  const more = all.length - max;
  if (more > 0) shown.push(`    (${more} more line${more === 1 ? '' : 's'} not shown)`);
  return shown;
}

/** A review with no lines yet and no timed approval: what a request starts from. */
function newReview(pairing: StoredPairing, key: SshSignKey, kind: SignReview['kind']): SignReview {
  return { computerName: pairing.computerName, pairingId: pairing.id, computerFingerprint: pairingFingerprint(pairing), kind, keyName: key.name, keyFingerprint: sshFingerprint(keyBlobOf(key)), lines: [], timedScopes: [] };
}
