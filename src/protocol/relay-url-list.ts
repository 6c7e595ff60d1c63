/**
 * Several relay URLs in one string (issue 10): `https://a.example,https://b.example`, the nodes
 * of one relay, in the order a client tries them. `latch pair --server`, the pairing link's `r`
 * (PROTOCOL.md §4.1) and the stored pairings carry this string, so a pairing stored with one URL
 * (every older one) is a list of one and loads unchanged. Pure codec: no I/O.
 */
import { LatchError } from '../util/latch-error.js';
import { validateRelayUrl } from './pairing-link.js';

/** More is no use to a client and only lengthens the QR code. */
export const MAX_RELAY_URLS = 8;

/** The URLs, each validated and canonical (validateRelayUrl), in order, without repeats. */
export function parseRelayUrls(text: string): string[] {
  if (typeof text !== 'string') throw new TypeError('relay URLs must be a string');
  const parts = text.split(',');
  if (parts.length > MAX_RELAY_URLS) throw new LatchError('bad_relay_url', `at most ${MAX_RELAY_URLS} relay URLs`);
  const urls = parts.map((p) => validateRelayUrl(p.trim()));
  if (new Set(urls).size !== urls.length) throw new LatchError('bad_relay_url', 'a relay URL is named twice');
  return urls;
}

/** The canonical text of a list: what parseRelayUrls gives, joined by commas. */
export function canonicalRelayUrls(text: string): string {
  return parseRelayUrls(text).join(',');
}
