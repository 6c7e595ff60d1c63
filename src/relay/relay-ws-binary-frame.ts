/**
 * Binary frames of `/v1/ws` (PROTOCOL.md §3.5.1), protocol 4: the two frames that carry a message
 * body, `send` and `deliver`, as raw bytes instead of JSON with a base64url body. The JSON frame
 * costs a third more bytes per body and an encode and a parse on each side, on every message of
 * the relay's data path (§3.8). Everything else stays JSON. Pure and strict: no I/O, no keys; a
 * frame has exactly one encoding, and anything else is refused with the code its JSON twin gets.
 *
 *   send    (client -> relay): 0x01 | queue id (16 bytes) | cid length (1 byte, 16..64) | cid (ASCII) | body (1.. bytes)
 *   deliver (relay -> client): 0x02 | queue id (16 bytes) | message id (u64 BE, 1..2^63-1) | received_at (u64 BE, unix s, <= 2^53-1) | body (1.. bytes)
 *
 * The queue id travels as the 16 bytes its base64url text encodes (§3.1). Integers are big-endian.
 */
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { isQueueId } from '../protocol/queue-id.js';
import { CLIENT_MESSAGE_ID_PATTERN, isMessageId } from './relay-store.js';

/** The first byte of a binary frame: its type. One table for protocol 4 (§3.5.1). */
export const BINARY_FRAME_TYPE = { send: 0x01, deliver: 0x02 } as const;

const QUEUE_BYTES = 16;
/** type, queue id, cid length. */
const SEND_HEADER = 1 + QUEUE_BYTES + 1;
/** type, queue id, message id, received_at. */
export const DELIVER_HEADER_BYTES = 1 + QUEUE_BYTES + 8 + 8;
const MIN_CID = 16;
const MAX_CID = 64;
const MAX_INT64 = (1n << 63n) - 1n;

export interface BinarySend {
  queue: string;
  cid: string;
  body: Uint8Array;
}

export interface BinaryDeliver {
  queue: string;
  id: string;
  /** unix seconds, relay clock */
  receivedAt: number;
  body: Uint8Array;
}

export type BinarySendParse =
  | { ok: true; frame: BinarySend }
  | { ok: false; code: 'bad_frame' | 'empty_message' | 'message_too_large'; message: string; queue?: string; cid?: string };

function queueBytes(queue: string): Uint8Array {
  if (!isQueueId(queue)) throw new TypeError('bad queue id');
  return decodeBase64url(queue, 'queue id');
}

function queueText(bytes: Uint8Array, at: number): string {
  // Any 16 bytes encode to a canonical queue id (22 characters, §3.1).
  return encodeBase64url(bytes.subarray(at, at + QUEUE_BYTES));
}

function isCidByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f;
}

export function encodeBinarySend(f: BinarySend): Uint8Array {
  if (!CLIENT_MESSAGE_ID_PATTERN.test(f.cid)) throw new TypeError('cid must be 16..64 base64url characters');
  if (!(f.body instanceof Uint8Array) || f.body.length === 0) throw new TypeError('body must be non-empty bytes');
  const out = new Uint8Array(SEND_HEADER + f.cid.length + f.body.length);
  out[0] = BINARY_FRAME_TYPE.send;
  out.set(queueBytes(f.queue), 1);
  out[1 + QUEUE_BYTES] = f.cid.length;
  for (let i = 0; i < f.cid.length; i++) out[SEND_HEADER + i] = f.cid.charCodeAt(i);
  out.set(f.body, SEND_HEADER + f.cid.length);
  return out;
}

/**
 * A binary frame from a client. Only `send` exists; the body is a view into `bytes`, not a copy.
 * `queue` and `cid` are echoed in a refusal when they could be read, as for JSON frames (§3.5).
 */
export function parseBinaryClientFrame(bytes: Uint8Array, maxMessageBytes: number): BinarySendParse {
  if (bytes.length === 0 || bytes[0] !== BINARY_FRAME_TYPE.send) return { ok: false, code: 'bad_frame', message: 'unknown binary frame type' };
  if (bytes.length < 1 + QUEUE_BYTES) return { ok: false, code: 'bad_frame', message: 'binary send frame is truncated' };
  const queue = queueText(bytes, 1);
  if (bytes.length < SEND_HEADER) return { ok: false, code: 'bad_frame', message: 'binary send frame is truncated', queue };
  const cidLength = bytes[1 + QUEUE_BYTES]!;
  if (cidLength < MIN_CID || cidLength > MAX_CID) return { ok: false, code: 'bad_frame', message: 'cid must be 16..64 base64url characters', queue };
  if (bytes.length < SEND_HEADER + cidLength) return { ok: false, code: 'bad_frame', message: 'binary send frame is truncated', queue };
  let cid = '';
  for (let i = 0; i < cidLength; i++) {
    const b = bytes[SEND_HEADER + i]!;
    if (!isCidByte(b)) return { ok: false, code: 'bad_frame', message: 'cid must be 16..64 base64url characters', queue };
    cid += String.fromCharCode(b);
  }
  const body = bytes.subarray(SEND_HEADER + cidLength);
  if (body.length === 0) return { ok: false, code: 'empty_message', message: 'message body is empty', queue, cid };
  if (body.length > maxMessageBytes) return { ok: false, code: 'message_too_large', message: `messages are limited to ${maxMessageBytes} bytes`, queue, cid };
  return { ok: true, frame: { queue, cid, body } };
}

export function encodeBinaryDeliver(f: BinaryDeliver): Uint8Array {
  if (!isMessageId(f.id)) throw new TypeError('bad message id');
  if (!Number.isSafeInteger(f.receivedAt) || f.receivedAt < 0) throw new TypeError('receivedAt must be a non-negative safe integer');
  if (!(f.body instanceof Uint8Array) || f.body.length === 0) throw new TypeError('body must be non-empty bytes');
  const out = new Uint8Array(DELIVER_HEADER_BYTES + f.body.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = BINARY_FRAME_TYPE.deliver;
  out.set(queueBytes(f.queue), 1);
  view.setBigUint64(1 + QUEUE_BYTES, BigInt(f.id));
  view.setBigUint64(1 + QUEUE_BYTES + 8, BigInt(f.receivedAt));
  out.set(f.body, DELIVER_HEADER_BYTES);
  return out;
}

/**
 * A binary frame from the relay, read by the client. The relay is untrusted (§2): anything but a
 * well-formed `deliver` is undefined. The body is a view into `bytes`.
 */
export function parseBinaryServerFrame(bytes: Uint8Array): BinaryDeliver | undefined {
  if (bytes.length <= DELIVER_HEADER_BYTES || bytes[0] !== BINARY_FRAME_TYPE.deliver) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = view.getBigUint64(1 + QUEUE_BYTES);
  const receivedAt = view.getBigUint64(1 + QUEUE_BYTES + 8);
  if (id === 0n || id > MAX_INT64 || receivedAt > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { queue: queueText(bytes, 1), id: id.toString(), receivedAt: Number(receivedAt), body: bytes.subarray(DELIVER_HEADER_BYTES) };
}
