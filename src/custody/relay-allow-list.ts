/**
 * Which relays the custody server will deliver notices to (issue 15 §4, SSRF through
 * `relay_url`). An inbox's `relay_url` is chosen by whoever registers it, so the server never
 * connects to it as given:
 *   - the server's own relay (the URL it listens on, or the host the registering request was
 *     sent to, which is how the CLI and the web app name it) is delivered to IN-PROCESS, with
 *     no outbound connection at all, so a spoofed Host header cannot point it anywhere;
 *   - other relays only when the operator listed them (`latch server --inbox-relay URL`), and
 *     then over HTTP with a timeout (notice-sender.ts);
 *   - anything else is refused at registration with `relay_not_allowed`.
 * URLs compare by scheme, host (port included) and path, without a trailing slash.
 */
import { LatchError } from '../util/latch-error.js';

/** The comparable form of a relay URL, or a LatchError('bad_inbox'). */
export function canonicalRelayUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new LatchError('bad_inbox', 'inbox.relay_url must be an http(s) URL');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
    throw new LatchError('bad_inbox', 'inbox.relay_url must be a plain http(s) URL (no credentials, query or fragment)');
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

export type RelayRoute = { kind: 'own' } | { kind: 'remote'; url: string };

export class RelayAllowList {
  readonly #allowed: Set<string>;

  /** `allowed` are the operator's --inbox-relay URLs; `ownUrl` is where this server listens. */
  constructor(allowed: readonly string[], private readonly ownUrl: () => string) {
    this.#allowed = new Set(allowed.map(canonicalRelayUrl));
  }

  /**
   * At registration: how `relayUrl` would be reached, or LatchError('relay_not_allowed').
   * `requestHost` is the Host header of the registering request (trusted only to mean "this
   * server", since delivery to it never leaves the process).
   */
  route(relayUrl: string, requestHost: string | undefined): RelayRoute {
    const c = canonicalRelayUrl(relayUrl);
    if (this.#allowed.has(c)) return { kind: 'remote', url: c };
    // Our own relay is served at the root of this server's origin.
    const host = /^https?:\/\/([^/]+)$/.exec(c)?.[1];
    const own = this.ownUrl() === '' ? undefined : /^https?:\/\/([^/]+)/.exec(canonicalRelayUrl(this.ownUrl()))?.[1];
    if (host !== undefined && (host === own || host === requestHost?.toLowerCase())) return { kind: 'own' };
    throw new LatchError('relay_not_allowed', 'inbox.relay_url must be this server\'s own relay or one its operator allows (latch server --inbox-relay URL)');
  }

  /** At delivery: a stored URL on the allow-list goes out over HTTP; anything else stays in-process. */
  deliveryRoute(relayUrl: string): RelayRoute {
    try {
      const c = canonicalRelayUrl(relayUrl);
      if (this.#allowed.has(c)) return { kind: 'remote', url: c };
    } catch {
      // A row stored before the allow-list existed: never fetched, delivered to our own relay.
    }
    return { kind: 'own' };
  }
}
