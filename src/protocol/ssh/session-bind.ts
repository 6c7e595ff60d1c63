/**
 * The `session-bind@openssh.com` agent extension (OpenSSH PROTOCOL.agent §1): ssh tells
 * the agent which host key it authenticated and proves it with the host's signature over
 * the session identifier. The host key may be a certificate (PROTOCOL.certkeys): then the
 * certified key signs, and the CA's signature over the certificate must verify too, as in
 * OpenSSH (sshkey_from_blob checks it). Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { SshReader } from './ssh-wire.js';
import { parseHostKey, verifySshCertificate } from './ssh-certificate.js';
import { verifySshSignature } from './ssh-signature.js';

export const SESSION_BIND_EXTENSION = 'session-bind@openssh.com';

export interface SessionBind {
  hostKeyBlob: Uint8Array;
  sessionId: Uint8Array;
  signature: Uint8Array;
  isForwarding: boolean;
}

/** Parse the extension contents (after the extension name). */
export function parseSessionBind(contents: Uint8Array): SessionBind {
  const r = new SshReader(contents, 'session-bind');
  const hostKeyBlob = r.string().slice();
  const sessionId = r.string().slice();
  const signature = r.string().slice();
  const isForwarding = r.bool();
  r.expectEnd();
  // OpenSSH's agent caps the session id at 128 bytes (AGENT_MAX_SID_LEN).
  if (sessionId.length === 0 || sessionId.length > 128) throw new LatchError('ssh_malformed', 'session-bind: bad session id length');
  parseHostKey(hostKeyBlob);
  return { hostKeyBlob, sessionId, signature, isForwarding };
}

/** Verify the host key's signature over the session id (as ssh-agent's process_ext_session_bind). */
export async function verifySessionBind(bind: SessionBind): Promise<boolean> {
  try {
    const host = parseHostKey(bind.hostKeyBlob);
    if (host.cert && !(await verifySshCertificate(host.cert))) return false;
    return await verifySshSignature(host.keyBlob, bind.signature, bind.sessionId);
  } catch {
    return false;
  }
}
