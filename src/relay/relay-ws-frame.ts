/**
 * WebSocket frames of `/v1/ws` (PROTOCOL.md §3.5), protocol 4. Pure and strict: a client frame
 * is one JSON object with exactly the fields of its op; anything else is `bad_frame`.
 *   {"op":"subscribe","queue":"<id>","auth":"v1 <pk> <ts> <sig>"[,"deliver":true[,"early":true][,"binary":true]]}
 *     (early: protocol 3; binary: protocol 4, deliveries as binary frames, relay-ws-binary-frame.ts)
 *   {"op":"unsubscribe","queue":"<id>"}
 *   {"op":"send","queue":"<id>","cid":"<client message id>","body":"<b64url>"}      (protocol 2)
 *   {"op":"ack","ref":"<ref>","acks":{"<id>":["<msg id>",...],...}}                 (protocol 2)
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { isQueueId } from '../protocol/queue-id.js';
import { CLIENT_MESSAGE_ID_PATTERN, isMessageId } from './relay-store.js';

/** The relay protocol version: on `/v1/health` and in the `ready` frame (§3.3, §3.5). */
export const RELAY_PROTOCOL_VERSION = 4;

export type ClientFrame =
  /**
   * `early` (protocol 3, §3.6): deliveries may precede the commit. `binary` (protocol 4, §3.5.1):
   * deliveries come as binary frames. Both only with `deliver`.
   */
  | { op: 'subscribe'; queue: string; auth: string; deliver: boolean; early: boolean; binary: boolean }
  | { op: 'unsubscribe'; queue: string }
  | { op: 'send'; queue: string; cid: string; body: Uint8Array }
  | { op: 'ack'; ref: string; acks: Map<string, string[]> };

/** Relay-to-client frames. */
export type ServerFrame =
  | { op: 'ready'; protocol: number; max_message_bytes: number }
  | { op: 'subscribed'; queue: string }
  | { op: 'unsubscribed'; queue: string }
  | { op: 'wake'; queue: string }
  | { op: 'deliver'; queue: string; id: string; body: string; received_at: number }
  | { op: 'stored'; cid: string; id: string; reader?: 'live' | 'push' | 'none' }
  | { op: 'acked'; ref: string; acked: number }
  | { op: 'error'; queue?: string; cid?: string; ref?: string; code: string; message: string };

/** Subscribe and unsubscribe frames stay small; `send` carries a body and `ack` up to 1000 ids. */
export const MAX_CLIENT_FRAME_BYTES = 4096;
/** Room for 1000 ids of up to 19 digits spread over as many queues. */
export const MAX_ACK_FRAME_BYTES = 65536;
/** Message ids in one ack frame, across its queues (as the HTTP ack, §3.3). */
export const MAX_ACK_IDS_PER_FRAME = 1000;
/** Room for a send frame's fields around its body. */
const SEND_FRAME_OVERHEAD = 256;
const REF_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The largest frame the relay reads: a full ack, or a send of a `maxMessageBytes` body (base64url) plus its fields. */
export function maxFrameBytes(maxMessageBytes: number): number {
  return Math.max(MAX_ACK_FRAME_BYTES, Math.ceil((maxMessageBytes * 4) / 3) + SEND_FRAME_OVERHEAD);
}

/**
 * Why a frame was refused: `code` is `bad_frame`, `empty_message` or `message_too_large`;
 * `queue`, `cid` and `ref` are echoed when they could be read, so the client knows which of its
 * operations failed.
 */
export type FrameParse =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: 'bad_frame' | 'empty_message' | 'message_too_large'; message: string; queue?: string; cid?: string; ref?: string };

function hasExactKeys(o: object, required: readonly string[], optional: readonly string[] = []): boolean {
  const own = Object.keys(o);
  return (
    required.every((k) => Object.prototype.hasOwnProperty.call(o, k)) &&
    own.every((k) => required.includes(k) || optional.includes(k))
  );
}

export function parseClientFrame(text: string, maxMessageBytes = 65536): FrameParse {
  if (typeof text !== 'string') return { ok: false, code: 'bad_frame', message: 'frames must be text' };
  if (text.length > maxFrameBytes(maxMessageBytes)) return { ok: false, code: 'bad_frame', message: 'frame too large' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_frame', message: 'frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_frame', message: 'frame must be a JSON object' };
  }
  const o = value as Record<string, unknown>;
  const queue = typeof o.queue === 'string' && isQueueId(o.queue) ? o.queue : undefined;
  const cid = typeof o.cid === 'string' && CLIENT_MESSAGE_ID_PATTERN.test(o.cid) ? o.cid : undefined;
  const ref = typeof o.ref === 'string' && REF_PATTERN.test(o.ref) ? o.ref : undefined;
  const fail = (message: string, code: 'bad_frame' | 'empty_message' | 'message_too_large' = 'bad_frame'): FrameParse => {
    const f: FrameParse = { ok: false, code, message };
    if (queue !== undefined) f.queue = queue;
    if (cid !== undefined) f.cid = cid;
    if (ref !== undefined) f.ref = ref;
    return f;
  };
  // Each op has its own size bound, whatever the message size limit (§3.5).
  if (o.op === 'ack' ? text.length > MAX_ACK_FRAME_BYTES : o.op !== 'send' && text.length > MAX_CLIENT_FRAME_BYTES) return fail('frame too large');
  switch (o.op) {
    case 'subscribe': {
      if (!hasExactKeys(o, ['op', 'queue', 'auth'], ['deliver', 'early', 'binary'])) return fail('subscribe takes op, queue, auth and optionally deliver, early and binary');
      if (queue === undefined) return fail('bad queue id');
      if (typeof o.auth !== 'string' || o.auth.length > 256) return fail('auth must be a proof string');
      if (o.deliver !== undefined && typeof o.deliver !== 'boolean') return fail('deliver must be true or false');
      if (o.early !== undefined && typeof o.early !== 'boolean') return fail('early must be true or false');
      if (o.early === true && o.deliver !== true) return fail('early needs deliver: true');
      if (o.binary !== undefined && typeof o.binary !== 'boolean') return fail('binary must be true or false');
      if (o.binary === true && o.deliver !== true) return fail('binary needs deliver: true');
      return { ok: true, frame: { op: 'subscribe', queue, auth: o.auth, deliver: o.deliver === true, early: o.early === true, binary: o.binary === true } };
    }
    case 'unsubscribe':
      if (!hasExactKeys(o, ['op', 'queue'])) return fail('unsubscribe takes exactly op, queue');
      if (queue === undefined) return fail('bad queue id');
      return { ok: true, frame: { op: 'unsubscribe', queue } };
    case 'send': {
      if (!hasExactKeys(o, ['op', 'queue', 'cid', 'body'])) return fail('send takes exactly op, queue, cid, body');
      if (queue === undefined) return fail('bad queue id');
      if (cid === undefined) return fail('cid must be 16..64 base64url characters');
      if (typeof o.body !== 'string') return fail('body must be a base64url string');
      if (o.body.length === 0) return fail('message body is empty', 'empty_message');
      if (Math.floor((o.body.length * 3) / 4) > maxMessageBytes) return fail(`messages are limited to ${maxMessageBytes} bytes`, 'message_too_large');
      let body: Uint8Array;
      try {
        body = decodeBase64url(o.body, 'message body');
      } catch {
        return fail('body must be canonical base64url');
      }
      return { ok: true, frame: { op: 'send', queue, cid, body } };
    }
    case 'ack': {
      if (!hasExactKeys(o, ['op', 'ref', 'acks'])) return fail('ack takes exactly op, ref, acks');
      if (ref === undefined) return fail('ref must be 1..64 base64url characters');
      const acks = o.acks;
      if (typeof acks !== 'object' || acks === null || Array.isArray(acks)) return fail('acks must be an object of queue -> ids');
      const out = new Map<string, string[]>();
      let total = 0;
      for (const [q, ids] of Object.entries(acks as Record<string, unknown>)) {
        if (!isQueueId(q)) return fail('acks: bad queue id');
        if (!Array.isArray(ids) || ids.length === 0) return fail('acks: each queue needs a non-empty list of ids');
        total += ids.length;
        if (total > MAX_ACK_IDS_PER_FRAME) return fail(`at most ${MAX_ACK_IDS_PER_FRAME} ids per ack frame`);
        if (!ids.every(isMessageId)) return fail('acks: ids must be message id strings');
        out.set(q, ids as string[]);
      }
      if (out.size === 0) return fail('acks must name at least one queue');
      return { ok: true, frame: { op: 'ack', ref, acks: out } };
    }
    default:
      return fail('unknown op');
  }
}

/** A server frame as text; fields in a fixed order (the vectors check it byte for byte). */
export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * Relay-to-client frame parse, used by the client. The relay is untrusted (§2): every field
 * the client acts on is checked; extra fields from newer relays are ignored.
 */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  const queue = typeof o.queue === 'string' && isQueueId(o.queue) ? o.queue : undefined;
  const id = typeof o.id === 'string' && isMessageId(o.id) ? o.id : undefined;
  switch (o.op) {
    case 'ready':
      if (!Number.isSafeInteger(o.protocol) || !Number.isSafeInteger(o.max_message_bytes)) return undefined;
      return { op: 'ready', protocol: o.protocol as number, max_message_bytes: o.max_message_bytes as number };
    case 'subscribed':
    case 'unsubscribed':
    case 'wake':
      return queue === undefined ? undefined : { op: o.op, queue };
    case 'deliver':
      if (queue === undefined || id === undefined || typeof o.body !== 'string' || !Number.isSafeInteger(o.received_at)) return undefined;
      return { op: 'deliver', queue, id, body: o.body, received_at: o.received_at as number };
    case 'stored':
      if (typeof o.cid !== 'string' || id === undefined) return undefined;
      // `reader` (§3.9) is additive: an older relay sends none, an unknown value is dropped.
      return o.reader === 'live' || o.reader === 'push' || o.reader === 'none' ? { op: 'stored', cid: o.cid, id, reader: o.reader } : { op: 'stored', cid: o.cid, id };
    case 'acked':
      if (typeof o.ref !== 'string' || !Number.isSafeInteger(o.acked)) return undefined;
      return { op: 'acked', ref: o.ref, acked: o.acked as number };
    case 'error': {
      const f: ServerFrame = {
        op: 'error',
        code: typeof o.code === 'string' && /^[a-z0-9_]{1,40}$/.test(o.code) ? o.code : 'relay_error',
        message: typeof o.message === 'string' ? o.message : '',
      };
      if (queue !== undefined) f.queue = queue;
      if (typeof o.cid === 'string') f.cid = o.cid;
      if (typeof o.ref === 'string') f.ref = o.ref;
      return f;
    }
    default:
      return undefined;
  }
}
