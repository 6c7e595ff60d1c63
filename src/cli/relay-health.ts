/** Is the relay there? Asked before a user waits 90 s for nothing. */
import { LatchError } from '../util/latch-error.js';
import { validateRelayUrl } from '../protocol/pairing-link.js';

export interface RelayHealth {
  /** The URL the relay says authenticators reach it at (`latch server --public-url`), if it says. */
  publicUrl?: string;
}

export async function checkRelay(url: string): Promise<RelayHealth> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new LatchError('relay_unreachable', `cannot reach the relay at ${url}${tlsHint(e)}: start it with \`latch server\`, or pass --server URL`);
  }
  const body = (await res.json().catch(() => undefined)) as { service?: string; public_url?: unknown } | undefined;
  if (!res.ok || body?.service !== 'latch-relay') {
    throw new LatchError('relay_unreachable', `${url} answered, but it is not a Latch relay`);
  }
  if (typeof body.public_url !== 'string') return {};
  try {
    return { publicUrl: validateRelayUrl(body.public_url) };
  } catch {
    return {}; // a relay that names a bad URL is treated as one that names none
  }
}

/** fetch hides the TLS reason in `cause`; a certificate the computer does not trust is the usual one with a custom CA. */
function tlsHint(e: unknown): string {
  const code = (e as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code !== 'string' || !/CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS/.test(code)) return '';
  return ` (TLS: ${code}; for a private CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem, see docs/DEPLOY.md)`;
}
