/**
 * Which origins may use which RP ID (WebAuthn L3 §5.1.3 step 8, §5.1.4.1 step 7; HTML "is a
 * registrable domain suffix of or is equal to"):
 *   - the origin is https, or http on localhost (a secure context the browser also accepts);
 *   - the RP ID equals the origin's host, or is a suffix of it on a label boundary;
 *   - the RP ID is not a public suffix (Public Suffix List, ICANN and private sections, via
 *     tldts), so "github.io" or "co.uk" never name a credential that many sites share;
 *   - the RP ID is a domain, not an IP address (browsers refuse IP addresses too).
 * Pure; browser-safe (tldts carries the list).
 */
import { parse } from 'tldts';
import { LatchError } from '../../util/latch-error.js';

export interface WebauthnOrigin {
  /** The serialised origin, e.g. "https://example.com" or "http://localhost:8080". */
  origin: string;
  scheme: 'https' | 'http';
  /** Lower-case ASCII host, no port. */
  host: string;
}

function securityError(message: string): LatchError {
  return new LatchError('rp_id_mismatch', message);
}

/** localhost and *.localhost (RFC 6761 §6.3) are secure contexts over http. */
export function isLocalhost(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

/** Parse a serialised origin: scheme, host and port only, in its canonical form. */
export function parseWebauthnOrigin(origin: string): WebauthnOrigin {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new LatchError('bad_origin', `"${origin.slice(0, 80)}" is not an origin`);
  }
  if (url.origin !== origin) throw new LatchError('bad_origin', `"${origin.slice(0, 80)}" is not a serialised origin (scheme://host[:port])`);
  const scheme = url.protocol === 'https:' ? 'https' : url.protocol === 'http:' ? 'http' : undefined;
  if (scheme === undefined) throw new LatchError('bad_origin', `origin scheme ${url.protocol} is not https`);
  const host = url.hostname;
  if (scheme === 'http' && !isLocalhost(host)) throw new LatchError('bad_origin', `${origin.slice(0, 80)} is not https (http is allowed only on localhost)`);
  return { origin, scheme, host };
}

/** Is `rpId` a valid RP ID for `origin`? Throws `rp_id_mismatch` (a SecurityError for the page) if not. */
export function checkRpId(rpId: string, origin: string): WebauthnOrigin {
  const o = parseWebauthnOrigin(origin);
  if (rpId.length === 0 || rpId.length > 253 || rpId !== rpId.toLowerCase() || rpId.startsWith('.') || rpId.endsWith('.')) {
    throw securityError(`"${rpId.slice(0, 80)}" is not a valid RP ID`);
  }
  if (o.host !== rpId && !o.host.endsWith(`.${rpId}`)) {
    throw securityError(`RP ID "${rpId.slice(0, 80)}" is not ${o.host} or a suffix of it`);
  }
  const p = parse(rpId, { allowPrivateDomains: true });
  if (p.isIp) throw securityError('an IP address cannot be an RP ID');
  if (rpId === 'localhost') return o; // the one single-label RP ID browsers accept
  if (p.domain === null || p.hostname !== rpId) throw securityError(`RP ID "${rpId.slice(0, 80)}" is a public suffix`);
  return o;
}
