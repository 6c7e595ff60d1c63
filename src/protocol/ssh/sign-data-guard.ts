/**
 * The "no cross-protocol signing" rule (issue 3): an SSH key signs only data that parses
 * as an SSH userauth request (RFC 4252 §7) or an SSHSIG signed-data blob
 * (PROTOCOL.sshsig §3). The two cannot be confused: a userauth request starts with a
 * uint32 session-id length, and "SSHS" read as a length is ~1.4 GB. Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { parseSshUserauthRequest, type SshUserauthRequest } from './ssh-userauth.js';
import { parseSshsigSignedData, type SshsigSignedData } from './sshsig.js';

export type SshSignDataKind = 'userauth' | 'sshsig';

export type ParsedSshSignData = { kind: 'userauth'; userauth: SshUserauthRequest } | { kind: 'sshsig'; sshsig: SshsigSignedData };

export function parseSshSignData(data: Uint8Array): ParsedSshSignData {
  try {
    return { kind: 'userauth', userauth: parseSshUserauthRequest(data) };
  } catch {
    /* try the other form */
  }
  try {
    return { kind: 'sshsig', sshsig: parseSshsigSignedData(data) };
  } catch {
    /* neither */
  }
  throw new LatchError('not_ssh_data', 'refusing to sign: data is neither an SSH userauth request nor an SSHSIG blob');
}

export function classifySshSignData(data: Uint8Array): SshSignDataKind {
  return parseSshSignData(data).kind;
}

/**
 * The guard as a signer applies it for a given key: additionally, a userauth request must
 * name the very key asked to sign (OpenSSH's agent checks the same for FIDO keys).
 */
export function parseSshSignDataForKey(keyBlob: Uint8Array, data: Uint8Array): ParsedSshSignData {
  const parsed = parseSshSignData(data);
  if (parsed.kind === 'userauth' && !bytesEqual(parsed.userauth.keyBlob, keyBlob)) {
    throw new LatchError('not_ssh_data', 'refusing to sign: the userauth request names a different key');
  }
  return parsed;
}
