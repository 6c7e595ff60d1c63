/**
 * The JSON messages inside boxed envelopes (PROTOCOL.md §5). Pure; browser-safe.
 *
 * Encoding rule (§5.1): a message is UTF-8 JSON exactly as ECMAScript's JSON.stringify writes
 * it: no insignificant whitespace, no duplicate keys, minimal escapes. The parser enforces
 * this by re-serialising, so every message has one accepted byte form, and request_hash (a
 * hash of those exact bytes) means the same thing to both sides.
 */
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url, decodeBase64url } from './base64url.js';
import { PROTOCOL_VERSION, FRESHNESS_WINDOW_SECONDS } from './protocol-constants.js';
import { isQueueId } from './queue-id.js';
import { validateName } from './pairing-link.js';
import type { Sodium } from './sodium.js';
import { randomBytes } from './random-bytes.js';
// WebAuthn request kinds (issue 11): bodies and results live in their own file.
import { parseWebauthnCreateBody, parseWebauthnCreateResult, parseWebauthnGetBody, parseWebauthnGetResult, type WebauthnCreateBody, type WebauthnCreateResult, type WebauthnGetBody, type WebauthnGetResult } from './webauthn/webauthn-requests.js';

export const MessageType = { request: 'request', response: 'response', ack: 'ack', pairReject: 'pair_reject' } as const;

/** The one table of request kinds, with the validators of their bodies and results. */
export interface SshKeyInfo {
  name: string;
  /** authorized_keys form: "ssh-ed25519 AAAA... name" */
  public_key: string;
}
export interface DeviceInfo {
  name: string;
  device_id: string;
  ssh_keys: SshKeyInfo[];
}
export type RequestBody =
  | { kind: 'pair_hello'; name: string; computer_queue: string }
  | { kind: 'me' }
  | { kind: 'unpair' }
  | SshSignBody
  | SignMessageBody
  | WebauthnCreateBody
  | WebauthnGetBody;
export type RequestKind = RequestBody['kind'];
export type ResultFor<K extends RequestKind> = K extends 'pair_hello' | 'me'
  ? DeviceInfo
  : K extends 'unpair'
    ? Record<string, never>
    : K extends 'ssh_sign' | 'sign_message'
      ? SignResult
      : K extends 'webauthn_create'
        ? WebauthnCreateResult
        : K extends 'webauthn_get'
          ? WebauthnGetResult
          : never;

/**
 * SSH and Git requests (issue 3; docs/AGENT.md "Protocol: SSH and Git requests"). Binary
 * fields are base64url (no padding), like every other binary field of the protocol.
 */
export interface SshSessionBindWire {
  /** Host key blob, its signature over session_id, as ssh sent them to the agent: the authenticator verifies them itself. */
  host_key: string;
  session_id: string;
  signature: string;
  is_forwarding: boolean;
}
export interface SshHostHint {
  host: string;
  port: number;
}
export interface SshSignBody {
  kind: 'ssh_sign';
  /** SSH public key blob of the authenticator's key. */
  key: string;
  /** The exact bytes the agent was asked to sign (a userauth request or an SSHSIG blob). */
  data: string;
  binds: SshSessionBindWire[];
  host_hint?: SshHostHint;
}
export interface SignMessageBody {
  kind: 'sign_message';
  key: string;
  namespace: string;
  /** The whole message (a git commit or tag object), so the authenticator can show it. */
  message: string;
}
/** ssh_sign: an SSH signature blob (base64url); sign_message: an armored SSHSIG. */
export interface SignResult {
  signature: string;
}
/** Largest message sign_message carries: base64url of it, plus the rest, fits a 64 KiB envelope. */
export const MAX_SIGN_MESSAGE_BYTES = 40 * 1024;
const MAX_SIGN_DATA_BYTES = 8 * 1024;

export interface RequestMessage {
  v: number;
  type: 'request';
  request_id: string;
  unix_seconds: number;
  /**
   * Optional (PROTOCOL.md §5.2): when the computer stops waiting for an answer, in unix seconds
   * by its own clock, unless an ack reached it first. An authenticator drops a request it gets
   * after this time without showing it. Absent in requests from computers before this field.
   */
  deadline?: number;
  body: RequestBody;
}
export interface ResponseMessage {
  v: number;
  type: 'response';
  request_id: string;
  request_hash: string;
  unix_seconds: number;
  result?: unknown;
  error?: { code: string; message: string };
}
export interface AckMessage {
  v: number;
  type: 'ack';
  request_id: string;
  request_hash: string;
  unix_seconds: number;
}
export interface PairRejectMessage {
  v: number;
  type: 'pair_reject';
  unix_seconds: number;
  reason: 'already_paired';
}
export type Message = RequestMessage | ResponseMessage | AckMessage | PairRejectMessage;

const REQUEST_ID = /^[A-Za-z0-9_-]{22}$/; // 16 random bytes
const HASH = /^[A-Za-z0-9_-]{43}$/; // SHA-256, base64url
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

function bad(message: string): LatchError {
  return new LatchError('bad_message', message);
}

type Json = Record<string, unknown>;

function record(x: unknown, what: string): Json {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(`${what} must be an object`);
  return x as Json;
}

/** Exactly these keys: required ones present, nothing unknown. */
function keys(o: Json, what: string, required: readonly string[], optional: readonly string[] = []): void {
  for (const k of required) if (!(k in o)) throw bad(`${what} is missing "${k}"`);
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) throw bad(`${what} has an unknown field "${k.slice(0, 32)}"`);
  }
}

function str(o: Json, k: string, what: string, max = 4096): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) throw bad(`${what}.${k} must be a string of at most ${max} characters`);
  return v;
}

function int(o: Json, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what}.${k} must be a non-negative integer`);
  return v;
}

function name(o: Json, k: string, what: string): string {
  const v = str(o, k, what, 256);
  try {
    return validateName(v, `${what}.${k}`);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

/** A base64url field (canonical: decodes and re-encodes to itself) of at most `maxBytes` bytes. */
function b64(o: Json, k: string, what: string, maxBytes: number, allowEmpty = false): string {
  const v = str(o, k, what, Math.ceil((maxBytes * 4) / 3));
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64url(v, `${what}.${k}`);
  } catch {
    throw bad(`${what}.${k} must be base64url`);
  }
  if ((bytes.length === 0 && !allowEmpty) || bytes.length > maxBytes) throw bad(`${what}.${k} must be 1 to ${maxBytes} bytes`);
  return v;
}

function parseRequestBody(x: unknown): RequestBody {
  const o = record(x, 'request body');
  const kind = o.kind;
  switch (kind) {
    case 'pair_hello': {
      keys(o, 'pair_hello', ['kind', 'name', 'computer_queue']);
      const q = str(o, 'computer_queue', 'pair_hello', 64);
      if (!isQueueId(q)) throw bad('pair_hello.computer_queue is not a queue id');
      return { kind, name: name(o, 'name', 'pair_hello'), computer_queue: q };
    }
    case 'me':
    case 'unpair':
      keys(o, kind, ['kind']);
      return { kind };
    case 'ssh_sign': {
      keys(o, kind, ['kind', 'key', 'data', 'binds'], ['host_hint']);
      const binds = o.binds;
      // OpenSSH's agent accepts at most 16 binds per connection (ssh-agent.c AGENT_MAX_SESSION_IDS).
      if (!Array.isArray(binds) || binds.length > 16) throw bad('ssh_sign.binds must be a list of at most 16 binds');
      const body: SshSignBody = {
        kind,
        key: b64(o, 'key', kind, 2048),
        data: b64(o, 'data', kind, MAX_SIGN_DATA_BYTES),
        binds: binds.map((b, i) => {
          const what = `ssh_sign.binds[${i}]`;
          const bo = record(b, what);
          keys(bo, what, ['host_key', 'session_id', 'signature', 'is_forwarding']);
          if (typeof bo.is_forwarding !== 'boolean') throw bad(`${what}.is_forwarding must be a boolean`);
          return {
            host_key: b64(bo, 'host_key', what, 2048),
            session_id: b64(bo, 'session_id', what, 128),
            signature: b64(bo, 'signature', what, 2048),
            is_forwarding: bo.is_forwarding,
          };
        }),
      };
      if ('host_hint' in o) {
        const h = record(o.host_hint, 'ssh_sign.host_hint');
        keys(h, 'ssh_sign.host_hint', ['host', 'port']);
        const host = str(h, 'host', 'ssh_sign.host_hint', 255);
        if (!/^[A-Za-z0-9._:%\[\]-]{1,255}$/.test(host)) throw bad('ssh_sign.host_hint.host is not a host name');
        const port = int(h, 'port', 'ssh_sign.host_hint');
        if (port < 1 || port > 65535) throw bad('ssh_sign.host_hint.port is out of range');
        body.host_hint = { host, port };
      }
      return body;
    }
    case 'sign_message': {
      keys(o, kind, ['kind', 'key', 'namespace', 'message']);
      const namespace = str(o, 'namespace', kind, 128);
      if (!/^[\x21-\x7e]{1,128}$/.test(namespace)) throw bad('sign_message.namespace must be printable ASCII without spaces');
      return { kind, key: b64(o, 'key', kind, 2048), namespace, message: b64(o, 'message', kind, MAX_SIGN_MESSAGE_BYTES, true) };
    }
    case 'webauthn_create':
      return parseWebauthnCreateBody(o);
    case 'webauthn_get':
      return parseWebauthnGetBody(o);
    default:
      throw new LatchError('unsupported_request', `request kind "${String(kind).slice(0, 32)}" is not supported`);
  }
}

/** The strict field readers, for the request kinds specified in their own files (webauthn/). */
export { record as jsonRecord, keys as checkKeys, str as strField, b64 as b64Field };

export function parseDeviceInfo(x: unknown): DeviceInfo {
  const o = record(x, 'device info');
  keys(o, 'device info', ['name', 'device_id', 'ssh_keys']);
  const keysArr = o.ssh_keys;
  if (!Array.isArray(keysArr) || keysArr.length > 32) throw bad('device info.ssh_keys must be a list of at most 32 keys');
  const ssh_keys = keysArr.map((k, i) => {
    const ko = record(k, `ssh_keys[${i}]`);
    keys(ko, `ssh_keys[${i}]`, ['name', 'public_key']);
    const public_key = str(ko, 'public_key', `ssh_keys[${i}]`, 2048);
    if (!/^(ssh-ed25519|ecdsa-sha2-nistp256) [A-Za-z0-9+/]+={0,2}( [^\n\r]*)?$/.test(public_key)) {
      throw bad(`ssh_keys[${i}].public_key is not an authorized_keys line`);
    }
    return { name: name(ko, 'name', `ssh_keys[${i}]`), public_key };
  });
  const device_id = str(o, 'device_id', 'device info', 64);
  if (!REQUEST_ID.test(device_id)) throw bad('device info.device_id is malformed');
  return { name: name(o, 'name', 'device info'), device_id, ssh_keys };
}

/** Validate a response's result for the kind of request it answers. */
export function parseResult<K extends RequestKind>(kind: K, x: unknown): ResultFor<K> {
  switch (kind) {
    case 'pair_hello':
    case 'me':
      return parseDeviceInfo(x) as ResultFor<K>;
    case 'unpair':
      keys(record(x, 'unpair result'), 'unpair result', []);
      return {} as ResultFor<K>;
    case 'ssh_sign':
    case 'sign_message': {
      const o = record(x, `${kind} result`);
      keys(o, `${kind} result`, ['signature']);
      if (kind === 'ssh_sign') return { signature: b64(o, 'signature', 'ssh_sign result', 2048) } as ResultFor<K>;
      const signature = str(o, 'signature', 'sign_message result', 8192);
      if (!signature.startsWith('-----BEGIN SSH SIGNATURE-----\n')) throw bad('sign_message result is not an armored SSHSIG');
      return { signature } as ResultFor<K>;
    }
    case 'webauthn_create':
      return parseWebauthnCreateResult(x) as ResultFor<K>;
    case 'webauthn_get':
      return parseWebauthnGetResult(x) as ResultFor<K>;
    default:
      throw new TypeError(`no result parser for ${String(kind)}`);
  }
}

/** Parse and validate a message's bytes. Does not check freshness (see checkFresh). */
export function parseMessage(bytes: Uint8Array): Message {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('message is not UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad('message is not JSON');
  }
  if (JSON.stringify(value) !== text) throw bad('message is not in canonical JSON form (PROTOCOL.md §5.1)');
  const o = record(value, 'message');
  if (o.v !== PROTOCOL_VERSION) {
    if (typeof o.v === 'number') {
      throw new LatchError('unsupported_version', `message is protocol version ${o.v}; this Latch speaks ${PROTOCOL_VERSION}`);
    }
    throw bad('message has no version');
  }
  const what = `${String(o.type).slice(0, 16)} message`;
  switch (o.type) {
    case 'request': {
      keys(o, what, ['v', 'type', 'request_id', 'unix_seconds', 'body'], ['deadline']);
      const request_id = str(o, 'request_id', what, 64);
      if (!REQUEST_ID.test(request_id)) throw bad('request_id must be 16 bytes of base64url');
      const unix_seconds = int(o, 'unix_seconds', what);
      const body = parseRequestBody(o.body);
      if (!('deadline' in o)) return { v: PROTOCOL_VERSION, type: 'request', request_id, unix_seconds, body };
      const deadline = int(o, 'deadline', what);
      // §5.2: a deadline is after the request's own time, and within the freshness window of it.
      if (deadline <= unix_seconds || deadline - unix_seconds > FRESHNESS_WINDOW_SECONDS) throw bad(`${what}.deadline must be 1 to ${FRESHNESS_WINDOW_SECONDS} s after unix_seconds`);
      return { v: PROTOCOL_VERSION, type: 'request', request_id, unix_seconds, deadline, body };
    }
    case 'response':
    case 'ack': {
      const isResponse = o.type === 'response';
      keys(o, what, ['v', 'type', 'request_id', 'request_hash', 'unix_seconds'], isResponse ? ['result', 'error'] : []);
      const request_id = str(o, 'request_id', what, 64);
      const request_hash = str(o, 'request_hash', what, 64);
      if (!REQUEST_ID.test(request_id)) throw bad('request_id must be 16 bytes of base64url');
      if (!HASH.test(request_hash)) throw bad('request_hash must be a base64url SHA-256');
      const unix_seconds = int(o, 'unix_seconds', what);
      if (!isResponse) return { v: PROTOCOL_VERSION, type: 'ack', request_id, request_hash, unix_seconds };
      if (('result' in o) === ('error' in o)) throw bad('response must carry exactly one of result and error');
      const msg: ResponseMessage = { v: PROTOCOL_VERSION, type: 'response', request_id, request_hash, unix_seconds };
      if ('error' in o) {
        const e = record(o.error, 'response error');
        keys(e, 'response error', ['code', 'message']);
        const code = str(e, 'code', 'response error', 64);
        if (!CODE.test(code)) throw bad('response error code is malformed');
        msg.error = { code, message: str(e, 'message', 'response error', 1024) };
      } else {
        msg.result = o.result;
      }
      return msg;
    }
    case 'pair_reject': {
      keys(o, what, ['v', 'type', 'unix_seconds', 'reason']);
      if (o.reason !== 'already_paired') throw bad('pair_reject.reason is unknown');
      return { v: PROTOCOL_VERSION, type: 'pair_reject', unix_seconds: int(o, 'unix_seconds', what), reason: 'already_paired' };
    }
    default:
      throw bad(`unknown message type "${String(o.type).slice(0, 32)}"`);
  }
}

export function encodeMessage(message: Message): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

/** request_hash (§5.4): base64url(SHA-256(the request's exact bytes)). */
export function requestHash(sodium: Sodium, requestBytes: Uint8Array): string {
  return encodeBase64url(sodium.crypto_hash_sha256(requestBytes));
}

/** 16 random bytes; `_sodium` is kept for callers written before ids came from WebCrypto (random-bytes.ts). */
export function newRequestId(_sodium?: Sodium): string {
  return encodeBase64url(randomBytes(16));
}

/** §5.3: both sides refuse a message more than 15 minutes off their own clock. */
export function checkFresh(unixSeconds: number, nowSeconds: number, window = FRESHNESS_WINDOW_SECONDS): void {
  if (Math.abs(nowSeconds - unixSeconds) > window) {
    throw new LatchError(
      'stale_message',
      `message time is ${Math.round((nowSeconds - unixSeconds) / 60)} minutes off this clock (limit ${window / 60}); check both clocks`,
    );
  }
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
