/** Is the relay there, and does this computer's clock agree with it? Asked before a user waits 90 s for nothing. */
import { LatchError } from '../util/latch-error.js';
import { validateRelayUrl } from '../protocol/pairing-link.js';
import { parseRelayUrls } from '../protocol/relay-url-list.js';

/** Below this the two clocks agree well enough (Date has 1 s resolution; deadlines allow 10 s, PROTOCOL.md §5.2). */
export const CLOCK_OFF_REPORT_SECONDS = 10;

export interface RelayHealth {
  /** The URL the relay says authenticators reach it at (`latch server --public-url`), if it says. */
  publicUrl?: string;
  /** The relay's clock minus this computer's, from the response's Date header (PROTOCOL.md §3.3); undefined without one. */
  clockOffsetSeconds: number | undefined;
}

/**
 * `urls` may name several nodes of one relay (relay-url-list.ts): the first that answers counts,
 * as a client would fail over to it; the error is the last node's.
 */
export async function checkRelay(urls: string): Promise<RelayHealth> {
  const list = parseRelayUrls(urls);
  for (let i = 0; ; i++) {
    try {
      return await checkOneRelay(list[i]!);
    } catch (e) {
      if (i + 1 >= list.length) throw e;
    }
  }
}

async function checkOneRelay(url: string): Promise<RelayHealth> {
  let res: Response;
  const sentAt = Date.now();
  try {
    res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new LatchError('relay_unreachable', `cannot reach the relay at ${url}${tlsHint(e)}: start it with \`latch server\`, or pass --server URL`);
  }
  const receivedAt = Date.now();
  const clockOffsetSeconds = clockOffset(res.headers.get('date'), (sentAt + receivedAt) / 2);
  const body = (await res.json().catch(() => undefined)) as { service?: string; public_url?: unknown } | undefined;
  if (!res.ok || body?.service !== 'latch-relay') {
    throw new LatchError('relay_unreachable', `${url} answered, but it is not a Latch relay`);
  }
  if (typeof body.public_url !== 'string') return { clockOffsetSeconds };
  try {
    return { publicUrl: validateRelayUrl(body.public_url), clockOffsetSeconds };
  } catch {
    return { clockOffsetSeconds }; // a relay that names a bad URL is treated as one that names none
  }
}

/** fetch hides the TLS reason in `cause`; a certificate the computer does not trust is the usual one with a custom CA. */
function tlsHint(e: unknown): string {
  const code = (e as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code !== 'string' || !/CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS/.test(code)) return '';
  return ` (TLS: ${code}; for a private CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem, see docs/DEPLOY.md)`;
}

/** The relay's time (an HTTP Date, RFC 9110 §6.6.1) minus `localMs`, in whole seconds. */
export function clockOffset(dateHeader: string | null, localMs: number): number | undefined {
  if (!dateHeader) return undefined;
  const relayMs = Date.parse(dateHeader);
  if (Number.isNaN(relayMs)) return undefined;
  // Date has whole seconds: the relay's clock was somewhere in [relayMs, relayMs + 1000).
  return Math.round((relayMs + 500 - localMs) / 1000);
}

/** "this computer's clock is 20 minutes off (behind the relay's)", or undefined when it is close enough. */
export function clockOffText(offsetSeconds: number | undefined): string | undefined {
  if (offsetSeconds === undefined || Math.abs(offsetSeconds) <= CLOCK_OFF_REPORT_SECONDS) return undefined;
  const abs = Math.abs(offsetSeconds);
  const amount = abs >= 60 ? `${Math.round(abs / 60)} minutes` : `${abs} seconds`;
  return `this computer's clock is ${amount} off (${offsetSeconds > 0 ? 'behind' : 'ahead of'} the relay's)`;
}

/** What to do about it. */
export const CLOCK_FIX = 'set this computer\'s clock (e.g. `timedatectl set-ntp true`); the relay and the authenticator refuse requests from a clock that far off';
