/**
 * ssh-agent frames (draft-miller-ssh-agent §3: uint32 length, then byte type and
 * contents) decoded into a typed union, and responses encoded. Pure: no I/O, no keys.
 * Every parse error is a LatchError; callers close the connection on it.
 */
import { LatchError } from '../util/latch-error.js';
import { SshReader, SshWriter } from '../protocol/ssh/ssh-wire.js';
import { AGENT_MAX_FRAME, AgentMsg } from './agent-message-ids.js';

export type AgentRequest =
  | { type: 'request-identities' }
  | { type: 'sign'; keyBlob: Uint8Array; data: Uint8Array; flags: number }
  /** ADD_IDENTITY, ADD_ID_CONSTRAINED, smartcard add/remove: carry private material or PINs; kept opaque, only forwarded. */
  | { type: 'opaque'; msgType: number }
  | { type: 'remove-identity'; keyBlob: Uint8Array }
  | { type: 'remove-all' }
  | { type: 'lock'; passphrase: Uint8Array }
  | { type: 'unlock'; passphrase: Uint8Array }
  | { type: 'extension'; name: string; contents: Uint8Array }
  | { type: 'unknown'; msgType: number };

function frameError(detail: string): LatchError {
  return new LatchError('agent_bad_frame', `agent frame: ${detail}`);
}

/** Decode one frame body (without the length prefix). */
export function decodeAgentRequest(body: Uint8Array): AgentRequest {
  if (body.length === 0) throw frameError('empty');
  if (body.length > AGENT_MAX_FRAME) throw frameError('too large');
  const r = new SshReader(body, 'agent request');
  const t = r.byte();
  let req: AgentRequest;
  switch (t) {
    case AgentMsg.SSH_AGENTC_REQUEST_IDENTITIES:
      req = { type: 'request-identities' };
      break;
    case AgentMsg.SSH_AGENTC_SIGN_REQUEST:
      req = { type: 'sign', keyBlob: r.string().slice(), data: r.string().slice(), flags: r.uint32() };
      break;
    case AgentMsg.SSH_AGENTC_REMOVE_IDENTITY:
      req = { type: 'remove-identity', keyBlob: r.string().slice() };
      break;
    case AgentMsg.SSH_AGENTC_REMOVE_ALL_IDENTITIES:
      req = { type: 'remove-all' };
      break;
    case AgentMsg.SSH_AGENTC_LOCK:
    case AgentMsg.SSH_AGENTC_UNLOCK:
      req = { type: t === AgentMsg.SSH_AGENTC_LOCK ? 'lock' : 'unlock', passphrase: r.string().slice() };
      break;
    case AgentMsg.SSH_AGENTC_ADD_IDENTITY:
    case AgentMsg.SSH_AGENTC_ADD_ID_CONSTRAINED:
    case AgentMsg.SSH_AGENTC_ADD_SMARTCARD_KEY:
    case AgentMsg.SSH_AGENTC_REMOVE_SMARTCARD_KEY:
    case AgentMsg.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
      r.rest();
      req = { type: 'opaque', msgType: t };
      break;
    case AgentMsg.SSH_AGENTC_EXTENSION: {
      const name = r.utf8();
      if (name.length === 0) throw frameError('empty extension name');
      req = { type: 'extension', name, contents: r.rest().slice() };
      break;
    }
    default:
      r.rest();
      req = { type: 'unknown', msgType: t };
  }
  r.expectEnd();
  return req;
}

/** Incremental splitter: feed socket chunks, get complete frame bodies. */
export class AgentFrameReader {
  private buf = new Uint8Array(0);

  /** Returns complete frame bodies; throws LatchError on an oversized or empty frame. */
  push(chunk: Uint8Array): Uint8Array[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let off = 0;
    while (merged.length - off >= 4) {
      const len = ((merged[off]! << 24) | (merged[off + 1]! << 16) | (merged[off + 2]! << 8) | merged[off + 3]!) >>> 0;
      if (len === 0) throw frameError('empty');
      if (len > AGENT_MAX_FRAME) throw frameError('too large');
      if (merged.length - off - 4 < len) break;
      out.push(merged.slice(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.buf = merged.slice(off);
    return out;
  }

  get buffered(): number {
    return this.buf.length;
  }
}

/** Prefix a body with its uint32 length. */
export function frame(body: Uint8Array): Uint8Array {
  return new SshWriter().string(body).bytes();
}

export function encodeFailure(): Uint8Array {
  return Uint8Array.of(AgentMsg.SSH_AGENT_FAILURE);
}

export function encodeSuccess(contents?: Uint8Array): Uint8Array {
  const w = new SshWriter().byte(AgentMsg.SSH_AGENT_SUCCESS);
  if (contents) w.raw(contents);
  return w.bytes();
}

export function encodeExtensionFailure(): Uint8Array {
  return Uint8Array.of(AgentMsg.SSH_AGENT_EXTENSION_FAILURE);
}

export function encodeIdentitiesAnswer(ids: readonly { keyBlob: Uint8Array; comment: string }[]): Uint8Array {
  const w = new SshWriter().byte(AgentMsg.SSH_AGENT_IDENTITIES_ANSWER).uint32(ids.length);
  for (const id of ids) w.string(id.keyBlob).string(id.comment);
  return w.bytes();
}

export function encodeSignResponse(sigBlob: Uint8Array): Uint8Array {
  return new SshWriter().byte(AgentMsg.SSH_AGENT_SIGN_RESPONSE).string(sigBlob).bytes();
}

/** Requests, for clients (tests, the git signing program, upstream forwarding). */
export function encodeRequestIdentities(): Uint8Array {
  return Uint8Array.of(AgentMsg.SSH_AGENTC_REQUEST_IDENTITIES);
}

export function encodeSignRequest(keyBlob: Uint8Array, data: Uint8Array, flags = 0): Uint8Array {
  return new SshWriter().byte(AgentMsg.SSH_AGENTC_SIGN_REQUEST).string(keyBlob).string(data).uint32(flags).bytes();
}

export function encodeExtensionRequest(name: string, contents: Uint8Array): Uint8Array {
  return new SshWriter().byte(AgentMsg.SSH_AGENTC_EXTENSION).string(name).raw(contents).bytes();
}

/** Decode an IDENTITIES_ANSWER (from an upstream agent). */
export function decodeIdentitiesAnswer(body: Uint8Array): { keyBlob: Uint8Array; comment: string }[] {
  const r = new SshReader(body, 'identities answer');
  if (r.byte() !== AgentMsg.SSH_AGENT_IDENTITIES_ANSWER) throw frameError('not an identities answer');
  const n = r.uint32();
  if (n > 4096) throw frameError('too many identities');
  const out: { keyBlob: Uint8Array; comment: string }[] = [];
  for (let i = 0; i < n; i++) {
    const keyBlob = r.string().slice();
    // Comments are usually UTF-8 but OpenSSH does not require it; decode leniently for display.
    const comment = new TextDecoder().decode(r.string());
    out.push({ keyBlob, comment });
  }
  r.expectEnd();
  return out;
}

/** Decode a SIGN_RESPONSE into the signature blob. */
export function decodeSignResponse(body: Uint8Array): Uint8Array {
  const r = new SshReader(body, 'sign response');
  if (r.byte() !== AgentMsg.SSH_AGENT_SIGN_RESPONSE) throw new LatchError('agent_refused', 'the agent refused to sign');
  const sig = r.string().slice();
  r.expectEnd();
  return sig;
}
