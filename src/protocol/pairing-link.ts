/**
 * The pairing link (PROTOCOL.md §4.1), what the QR code carries:
 *   latch://pair?v=1&pk=<computer X25519 pk, base64url>&q=<pairing queue id>&n=<computer name>&r=<relay URL>
 *
 * This is a WIRE type. It holds public values only; the computer's stored pairing state is a
 * different type in src/computer/, so a secret can never ride along by accident (Krypton once
 * serialised its secret key into the QR because the two were one struct).
 */
import { LatchError } from '../util/latch-error.js';
import { decodeBase64urlBytes, encodeBase64url } from './base64url.js';
import { PROTOCOL_VERSION } from './protocol-constants.js';
import { isQueueId } from './queue-id.js';
import { canonicalRelayUrls } from './relay-url-list.js';

export interface PairingLink {
  readonly version: number;
  /** Computer's X25519 public key for this pairing (32 bytes). */
  readonly computerPublicKey: Uint8Array;
  /** Relay queue the authenticator sends its sealed offer to. */
  readonly queueId: string;
  /** Computer's display name. */
  readonly name: string;
  /** Relay base URL, http(s); or several, comma-separated (relay-url-list.ts), the nodes of one relay. */
  readonly relayUrl: string;
}

const FIELDS = ['v', 'pk', 'q', 'n', 'r'] as const;
export const MAX_NAME_LENGTH = 64;
const MAX_LINK_LENGTH = 1024;

function bad(message: string): LatchError {
  return new LatchError('bad_pairing_link', message);
}

export function validateName(name: string, what = 'name'): string {
  if (typeof name !== 'string') throw new TypeError(`${what} must be a string`);
  const n = name.normalize('NFC');
  if (n.length === 0 || n.length > MAX_NAME_LENGTH) {
    throw new LatchError('bad_name', `${what} must be 1 to ${MAX_NAME_LENGTH} characters`);
  }
  // Control characters could forge extra lines on a terminal prompt.
  if (/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(n)) throw new LatchError('bad_name', `${what} must not contain control characters`);
  if (n !== n.trim()) throw new LatchError('bad_name', `${what} must not start or end with spaces`);
  return n;
}

export function validateRelayUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LatchError('bad_relay_url', 'relay URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LatchError('bad_relay_url', 'relay URL must use http or https');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new LatchError('bad_relay_url', 'relay URL must not carry credentials, a query or a fragment');
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function formatPairingLink(link: PairingLink): string {
  if (link.computerPublicKey.length !== 32) throw new TypeError('computerPublicKey must be 32 bytes');
  if (!isQueueId(link.queueId)) throw new TypeError('queueId is not a queue id');
  const params = new URLSearchParams();
  params.set('v', String(link.version));
  params.set('pk', encodeBase64url(link.computerPublicKey));
  params.set('q', link.queueId);
  params.set('n', validateName(link.name, 'computer name'));
  params.set('r', canonicalRelayUrls(link.relayUrl));
  return `latch://pair?${params.toString()}`;
}

/**
 * Strict: exact scheme and host, each field exactly once, no unknown fields, canonical
 * base64url, and a version we speak. A link of a newer version gets its own code so the
 * user is told to update rather than that the link is broken.
 */
export function parsePairingLink(text: string): PairingLink {
  if (typeof text !== 'string') throw new TypeError('pairing link must be a string');
  const trimmed = text.trim();
  if (trimmed.length > MAX_LINK_LENGTH) throw bad('pairing link is too long to be a Latch link');
  if (!trimmed.startsWith('latch://pair?')) {
    throw bad('not a Latch pairing link (it must start with latch://pair?)');
  }
  const params = new URLSearchParams(trimmed.slice('latch://pair?'.length));
  const seen = new Map<string, string>();
  for (const [key, value] of params) {
    if (!(FIELDS as readonly string[]).includes(key)) throw bad(`pairing link has an unknown field "${key.slice(0, 16)}"`);
    if (seen.has(key)) throw bad(`pairing link repeats the field "${key}"`);
    seen.set(key, value);
  }
  const v = seen.get('v');
  if (v === undefined) throw bad('pairing link has no version (v)');
  if (!/^[1-9][0-9]{0,3}$/.test(v)) throw bad('pairing link version is not a number');
  if (Number(v) !== PROTOCOL_VERSION) {
    throw new LatchError(
      'unsupported_version',
      `pairing link is protocol version ${v}; this Latch speaks version ${PROTOCOL_VERSION}. Update the older side.`,
    );
  }
  for (const f of FIELDS) if (!seen.has(f)) throw bad(`pairing link is missing the field "${f}"`);
  let computerPublicKey: Uint8Array;
  try {
    computerPublicKey = decodeBase64urlBytes(seen.get('pk')!, 32, 'computer key');
  } catch (e) {
    throw bad(`pairing link key is malformed: ${(e as Error).message}`);
  }
  const queueId = seen.get('q')!;
  if (!isQueueId(queueId)) throw bad('pairing link queue id is malformed');
  let name: string;
  let relayUrl: string;
  try {
    name = validateName(seen.get('n')!, 'computer name');
    relayUrl = canonicalRelayUrls(seen.get('r')!);
  } catch (e) {
    throw bad(`pairing link: ${(e as Error).message}`);
  }
  const link: PairingLink = { version: PROTOCOL_VERSION, computerPublicKey, queueId, name, relayUrl };
  // One accepted text per link (PROTOCOL.md §4.1): the fields in order, encoded as
  // URLSearchParams writes them. Anything else (reordered, "&&", %-escaped names) is refused.
  if (formatPairingLink(link) !== trimmed) throw bad('pairing link is not in canonical form (PROTOCOL.md §4.1)');
  return link;
}
