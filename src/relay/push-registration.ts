/**
 * The body of `POST /v1/queues/:id/push` (PROTOCOL.md §3.9), pure and strict:
 *   {"endpoint":"https://...","keys":{"p256dh":"<b64url 65 bytes>","auth":"<b64url 16 bytes>"}}
 * registers the browser's PushSubscription (its toJSON() minus `expirationTime`), and
 *   {"endpoint":null}
 * removes the queue's subscription. Throws TypeError with the reason otherwise.
 */
import { decodeBase64url } from '../protocol/base64url.js';

export const MAX_PUSH_ENDPOINT_CHARS = 2048;

/**
 * Request header of an HTTP send (PROTOCOL.md §3.9): `Latch-Push: off` stores and delivers the
 * message as usual but never wakes a closed app for it (a computer's background key-list
 * refresh); any other value is `bad_request`.
 */
export const PUSH_HEADER = 'latch-push';

export interface PushRegistration {
  endpoint: string;
  p256dh: string;
  auth: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const own = Object.keys(o);
  if (own.length !== keys.length || !keys.every((k) => own.includes(k))) throw new TypeError(`${what} must have exactly ${keys.join(', ')}`);
}

function b64Bytes(v: unknown, length: number, what: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v)) throw new TypeError(`${what} must be base64url`);
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64url(v, what);
  } catch {
    throw new TypeError(`${what} must be canonical base64url`);
  }
  if (bytes.length !== length) throw new TypeError(`${what} must be ${length} bytes`);
  return v;
}

/** null: remove the subscription. */
export function parsePushRegistration(body: unknown): PushRegistration | null {
  if (!isPlainObject(body)) throw new TypeError('body must be a JSON object');
  if (body.endpoint === null) {
    exactKeys(body, ['endpoint'], 'a removal');
    return null;
  }
  exactKeys(body, ['endpoint', 'keys'], 'a registration');
  const endpoint = body.endpoint;
  if (typeof endpoint !== 'string' || endpoint.length > MAX_PUSH_ENDPOINT_CHARS) throw new TypeError(`endpoint must be a URL of at most ${MAX_PUSH_ENDPOINT_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError('endpoint must be a URL');
  }
  // RFC 8030 §8: the push service is reached over HTTPS only.
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') throw new TypeError('endpoint must be an https URL without credentials');
  if (!isPlainObject(body.keys)) throw new TypeError('keys must be an object');
  exactKeys(body.keys, ['p256dh', 'auth'], 'keys');
  const p256dh = b64Bytes(body.keys.p256dh, 65, 'keys.p256dh');
  if (decodeBase64url(p256dh)[0] !== 0x04) throw new TypeError('keys.p256dh must be an uncompressed P-256 point');
  return { endpoint, p256dh, auth: b64Bytes(body.keys.auth, 16, 'keys.auth') };
}
