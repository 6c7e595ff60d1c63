/**
 * Client-to-relay WebSocket frames (PROTOCOL.md §3.5). Pure and strict: a frame is one
 * JSON object with exactly the fields of its op; anything else is `bad_frame`.
 *   {"op":"subscribe","queue":"<id>","auth":"v1 <pk> <ts> <sig>"}
 *   {"op":"unsubscribe","queue":"<id>"}
 */
import { isQueueId } from '../protocol/queue-id.js';

export type ClientFrame =
  | { op: 'subscribe'; queue: string; auth: string }
  | { op: 'unsubscribe'; queue: string };

/** Relay-to-client frames. */
export type ServerFrame =
  | { op: 'subscribed'; queue: string }
  | { op: 'unsubscribed'; queue: string }
  | { op: 'wake'; queue: string }
  | { op: 'error'; queue?: string; code: string; message: string };

export const MAX_CLIENT_FRAME_BYTES = 4096;

export type FrameParse = { ok: true; frame: ClientFrame } | { ok: false; message: string; queue?: string };

function hasExactKeys(o: object, keys: readonly string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
}

export function parseClientFrame(text: string): FrameParse {
  if (typeof text !== 'string') return { ok: false, message: 'frames must be text' };
  if (text.length > MAX_CLIENT_FRAME_BYTES) return { ok: false, message: 'frame too large' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'frame must be a JSON object' };
  }
  const o = value as Record<string, unknown>;
  const queue = typeof o.queue === 'string' && isQueueId(o.queue) ? o.queue : undefined;
  const fail = (message: string): FrameParse => (queue === undefined ? { ok: false, message } : { ok: false, message, queue });
  if (o.op === 'subscribe') {
    if (!hasExactKeys(o, ['op', 'queue', 'auth'])) return fail('subscribe takes exactly op, queue, auth');
    if (queue === undefined) return fail('bad queue id');
    if (typeof o.auth !== 'string' || o.auth.length > 256) return fail('auth must be a proof string');
    return { ok: true, frame: { op: 'subscribe', queue, auth: o.auth } };
  }
  if (o.op === 'unsubscribe') {
    if (!hasExactKeys(o, ['op', 'queue'])) return fail('unsubscribe takes exactly op, queue');
    if (queue === undefined) return fail('bad queue id');
    return { ok: true, frame: { op: 'unsubscribe', queue } };
  }
  return fail('unknown op');
}

/** Relay-to-client frame parse, used by the client; tolerant of extra fields from newer relays. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  const queue = typeof o.queue === 'string' ? o.queue : undefined;
  switch (o.op) {
    case 'subscribed':
    case 'unsubscribed':
    case 'wake':
      return queue === undefined ? undefined : { op: o.op, queue };
    case 'error': {
      const code = typeof o.code === 'string' ? o.code : 'unknown';
      const message = typeof o.message === 'string' ? o.message : '';
      return queue === undefined ? { op: 'error', code, message } : { op: 'error', queue, code, message };
    }
    default:
      return undefined;
  }
}
