/**
 * Whether a userauth sign request goes to a host the agent has verified (issue 3,
 * "Verified hosts"). Verified means: ssh used the host-bound method
 * (publickey-hostbound-v00@openssh.com), and this connection's last session-bind is an
 * authentication bind (not forwarding) for the same session id and host key, whose
 * signature was already checked. Mirrors the check in OpenSSH ssh-agent.c
 * (identity_permitted / parse_userauth_request). Pure; browser-safe: the agent and both
 * authenticators (Node and web) use it.
 */
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import type { SshUserauthRequest } from './ssh-userauth.js';

/** A session-bind whose host signature has been checked (session-bind.ts verifySessionBind). */
export interface CheckedSessionBind {
  hostKeyBlob: Uint8Array;
  sessionId: Uint8Array;
  isForwarding: boolean;
}

export type HostVerification = { verified: true; hostKeyBlob: Uint8Array } | { verified: false; reason: 'no-bind' | 'forwarded' | 'not-hostbound' | 'mismatch' };

export function hostVerification(userauth: SshUserauthRequest, binds: readonly CheckedSessionBind[]): HostVerification {
  const last = binds[binds.length - 1];
  if (!last) return { verified: false, reason: 'no-bind' };
  if (last.isForwarding) return { verified: false, reason: 'forwarded' };
  if (!userauth.hostKeyBlob) return { verified: false, reason: 'not-hostbound' };
  if (!bytesEqual(last.sessionId, userauth.sessionId) || !bytesEqual(last.hostKeyBlob, userauth.hostKeyBlob)) {
    return { verified: false, reason: 'mismatch' };
  }
  return { verified: true, hostKeyBlob: last.hostKeyBlob };
}
