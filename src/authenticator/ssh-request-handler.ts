/**
 * The authenticator's side of `ssh_sign` and `sign_message` (issue 3): check the key, the
 * data (no cross-protocol signing) and the session binds itself; work out whether the host
 * is verified and whether its key matches the one pinned for that name; then sign if a
 * timed approval covers the request, else ack the computer and ask the user.
 */
import { randomUUID } from 'node:crypto';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { SshSignBody, SignMessageBody, SignResult } from '../protocol/messages.js';
import { sshFingerprint } from '../protocol/ssh/ssh-public-key.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { verifySessionBind } from '../protocol/ssh/session-bind.js';
import { armorSshsig, buildSshsigSignedDataForMessage, encodeSshsig } from '../protocol/ssh/sshsig.js';
import { parseGitObject } from '../protocol/ssh/git-object.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import { hostVerification } from '../agent/host-verification.js';
import type { Keystore } from './keystore.js';
import type { PolicyScope, StoredPairing } from './authenticator-state.js';
import { findStoredKey, signSshData, storedKeyBlob } from './ssh-signer.js';
import { coveringPolicy, grantPolicy, scopeFor } from './policy-book.js';
import { cleanLine, describeScope, type Approver, type SignReview } from './sign-review.js';

/** Denies everything: what a RequestHandler does when nobody can be asked. */
export const denyAll: Approver = { interactive: false, ask: async () => ({ kind: 'deny', reason: 'nobody to ask' }) };
export const approveOnce: Approver = { interactive: false, ask: async () => ({ kind: 'once' }) };

/** known_hosts style name: "host" on port 22, else "[host]:port". */
export function pinName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export class SshRequestHandler {
  constructor(
    private readonly sodium: Sodium,
    private readonly keystore: Keystore,
    private readonly approver: Approver,
    private readonly log: (line: string) => void,
    private readonly clock: () => number,
  ) {}

  async sshSign(pairing: StoredPairing, body: SshSignBody, ack: () => Promise<void>): Promise<SignResult> {
    this.keystore.reloadIfChanged(); // see revocations and opt-ins made by other processes
    const state = this.keystore.state;
    const key = findStoredKey(state.sshKeys, decodeBase64url(body.key));
    const data = decodeBase64url(body.data);
    const parsed = parseSshSignDataForKey(storedKeyBlob(key), data); // refuses anything not SSH, before any prompt
    const binds = [];
    for (const b of body.binds) {
      const bind = {
        hostKeyBlob: decodeBase64url(b.host_key),
        sessionId: decodeBase64url(b.session_id),
        signature: decodeBase64url(b.signature),
        isForwarding: b.is_forwarding,
      };
      // The authenticator trusts no one's word for a host: it checks the host's signature itself.
      if (!(await verifySessionBind(bind))) throw new LatchError('bad_session_bind', 'a session bind does not verify: refusing to sign');
      binds.push(bind);
    }
    const optedIn = (state.allowUnverifiedFor ?? []).includes(pairing.id);
    const review: SignReview = {
      computerName: pairing.computerName,
      pairingId: pairing.id,
      kind: 'ssh',
      keyName: key.name,
      keyFingerprint: sshFingerprint(storedKeyBlob(key)),
      lines: [],
      timedScopes: [],
    };
    let pin: { name: string; hostKey: Uint8Array } | undefined;
    if (parsed.kind === 'userauth') {
      const ua = parsed.userauth;
      const hv = hostVerification(ua, binds);
      const hostKey = hv.verified ? hv.hostKeyBlob : (ua.hostKeyBlob ?? binds[binds.length - 1]?.hostKeyBlob);
      review.user = ua.user;
      review.verified = hv.verified;
      review.hostKeyFingerprint = hostKey ? sshFingerprint(hostKey) : undefined;
      if (body.host_hint) review.host = pinName(body.host_hint.host, body.host_hint.port);
      if (hv.verified && review.host) {
        const pinned = (state.pinnedHosts ?? []).find((p) => p.name === review.host);
        if (pinned && !bytesEqual(decodeBase64url(pinned.hostKey), hv.hostKeyBlob)) {
          const msg =
            `host key of ${review.host} changed: pinned ${sshFingerprint(decodeBase64url(pinned.hostKey))}, ` +
            `now ${sshFingerprint(hv.hostKeyBlob)}; refusing to sign (if the change is expected: latch device host forget ${review.host})`;
          this.log(`REFUSED login as ${ua.user} to ${review.host} from ${pairing.computerName}: ${msg}`);
          throw new LatchError('host_key_changed', msg);
        }
        if (!pinned) pin = { name: review.host, hostKey: hv.hostKeyBlob };
      }
      const hostText = review.host ?? `unknown host name (host key ${review.hostKeyFingerprint ?? 'not sent'})`;
      review.lines.push(
        `SSH login as ${ua.user}@${hostText}`,
        hv.verified
          ? `  host key ${review.hostKeyFingerprint}: VERIFIED (the host proved it holds this key)${pin ? ', pinned now on approval' : ''}`
          : `  host NOT VERIFIED (${unverifiedReason(hv.reason)})`,
      );
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

    await this.#approve(review, ack);
    const { signature } = signSshData(this.sodium, key, data);
    if (pin) {
      const p = pin;
      await this.keystore.update((s) => {
        s.pinnedHosts = [...(s.pinnedHosts ?? []).filter((x) => x.name !== p.name), { name: p.name, hostKey: encodeBase64url(p.hostKey), pinnedAt: this.clock() }];
      });
      this.log(`pinned host key of ${p.name}: ${sshFingerprint(p.hostKey)}`);
    }
    return { signature: encodeBase64url(signature) };
  }

  async signMessage(pairing: StoredPairing, body: SignMessageBody, ack: () => Promise<void>): Promise<SignResult> {
    this.keystore.reloadIfChanged();
    const key = findStoredKey(this.keystore.state.sshKeys, decodeBase64url(body.key));
    const message = decodeBase64url(body.message);
    const review: SignReview = {
      computerName: pairing.computerName,
      pairingId: pairing.id,
      kind: 'message',
      keyName: key.name,
      keyFingerprint: sshFingerprint(storedKeyBlob(key)),
      namespace: body.namespace,
      lines: [],
      timedScopes: [],
    };
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
      if (git.kind === 'tag') review.lines.push(`  tag ${git.tag ?? '?'} on ${git.type ?? '?'} ${git.object ?? '?'}`, `  tagger    ${git.tagger ?? '?'}`);
      else {
        review.lines.push(`  author    ${git.author ?? '?'}`, `  committer ${git.committer ?? '?'}`);
        review.lines.push(`  parents   ${git.parents.length ? git.parents.join(', ') : '(none: first commit)'}`);
      }
      if (git.extraHeaders.length) review.lines.push(`  other headers: ${git.extraHeaders.join(', ')}`);
      review.lines.push('  message:', ...git.message.split('\n').slice(0, 20).map((l) => `    | ${l}`));
    } else {
      review.lines.push(`Signature in namespace "${body.namespace}" over a ${message.length}-byte message`);
      const text = safeText(message);
      if (text !== undefined) review.lines.push(...text.split('\n').slice(0, 12).map((l) => `    | ${l}`));
      else review.lines.push('  (binary message, not shown)');
    }
    review.lines.push(`  key ${key.name} (${review.keyFingerprint}), from computer "${pairing.computerName}"`);

    await this.#approve(review, ack);
    const signed = buildSshsigSignedDataForMessage(body.namespace, message, 'sha512');
    const { signature } = signSshData(this.sodium, key, signed);
    return { signature: armorSshsig(encodeSshsig({ publicKey: storedKeyBlob(key), namespace: body.namespace, hashAlgorithm: 'sha512', signature })) };
  }

  /** Resolves when approved (by policy or by the user); throws `denied` otherwise. */
  async #approve(review: SignReview, ack: () => Promise<void>): Promise<void> {
    const now = this.clock();
    const policy = coveringPolicy(this.keystore.state, review, now);
    if (policy) {
      this.log(`approved by policy ${policy.id} (${describeScope(policy.scope)}, ${policy.expiresAt - now} s left): ${review.lines[0]}`);
      return;
    }
    if (this.approver.interactive) await ack().catch((e: unknown) => this.log(`could not send the ack: ${(e as Error).message}`));
    else for (const l of review.lines) this.log(`  ${cleanLine(l)}`); // unattended: keep a record of what was signed
    const decision = await this.approver.ask(review);
    if (decision.kind === 'deny') {
      this.log(`denied: ${review.lines[0]}${decision.reason ? ` (${decision.reason})` : ''}`);
      throw new LatchError('denied', `denied on the authenticator${decision.reason ? ` (${decision.reason})` : ''}`);
    }
    if (decision.kind === 'timed') {
      if (!review.timedScopes.includes(decision.scope)) {
        this.log(`a timed approval (${decision.scope}) is not available for this request: approved once only`);
      } else {
        const scope: PolicyScope = scopeFor(decision.scope, review);
        const id = randomUUID().slice(0, 8);
        await this.keystore.update((s) =>
          grantPolicy(s, { id, pairingId: review.pairingId, computerName: review.computerName, scope, createdAt: now, expiresAt: now + decision.seconds }, now),
        );
        this.log(`policy ${id}: ${describeScope(scope)} for ${decision.seconds} s (computer "${review.computerName}")`);
      }
    }
    this.log(`approved: ${review.lines[0]}`);
  }
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
