/**
 * The data an SSH client asks an agent to sign for publickey user authentication
 * (RFC 4252 §7), and OpenSSH's host-bound variant (PROTOCOL §2.5
 * "publickey-hostbound-v00@openssh.com", which appends the server host key blob).
 * Strict: anything else, including trailing bytes, is rejected. Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { SshReader } from './ssh-wire.js';

/** RFC 4250 §4.1.2: SSH_MSG_USERAUTH_REQUEST. */
export const SSH_MSG_USERAUTH_REQUEST = 50;
export const HOSTBOUND_METHOD = 'publickey-hostbound-v00@openssh.com';

export interface SshUserauthRequest {
  sessionId: Uint8Array;
  user: string;
  service: string;
  method: 'publickey' | typeof HOSTBOUND_METHOD;
  /** Public key algorithm name, e.g. "ssh-ed25519" or "rsa-sha2-256". */
  algorithm: string;
  keyBlob: Uint8Array;
  /** Present only for the host-bound method. */
  hostKeyBlob?: Uint8Array;
}

export function parseSshUserauthRequest(data: Uint8Array): SshUserauthRequest {
  const r = new SshReader(data, 'SSH userauth request');
  const sessionId = r.string().slice();
  // Session ids are exchange-hash outputs: SHA-1 (20) up to SHA-512 (64) bytes.
  if (sessionId.length < 20 || sessionId.length > 64) {
    throw new LatchError('ssh_malformed', 'SSH userauth request: implausible session id length');
  }
  if (r.byte() !== SSH_MSG_USERAUTH_REQUEST) throw new LatchError('ssh_malformed', 'SSH userauth request: not SSH_MSG_USERAUTH_REQUEST');
  const user = r.utf8();
  const service = r.utf8();
  const method = r.utf8();
  if (method !== 'publickey' && method !== HOSTBOUND_METHOD) {
    throw new LatchError('ssh_malformed', 'SSH userauth request: method is not publickey');
  }
  // RFC 4252 §7: the signed form always has the boolean TRUE.
  if (!r.bool()) throw new LatchError('ssh_malformed', 'SSH userauth request: signature flag is FALSE');
  const algorithm = r.utf8();
  const keyBlob = r.string().slice();
  let hostKeyBlob: Uint8Array | undefined;
  if (method === HOSTBOUND_METHOD) hostKeyBlob = r.string().slice();
  r.expectEnd();
  const out: SshUserauthRequest = { sessionId, user, service, method, algorithm, keyBlob };
  if (hostKeyBlob) out.hostKeyBlob = hostKeyBlob;
  return out;
}
