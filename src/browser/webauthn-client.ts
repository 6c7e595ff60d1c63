/**
 * The computer's WebAuthn client (issue 11): turns a page's options and the origin the browser
 * vouched for into a `webauthn_create` / `webauthn_get` request, and the authenticator's answer
 * into the JSON a page gets. This is the part of the spec's "client" (WebAuthn L3 §5.1.3,
 * §5.1.4) that runs beside the browser: it checks the options (webauthn-options.ts), defaults
 * and checks the RP ID against the origin, and writes clientDataJSON. The authenticator checks
 * all of it again itself.
 */
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import { buildClientDataJSON } from '../protocol/webauthn/client-data.js';
import { checkRpId, parseWebauthnOrigin } from '../protocol/webauthn/rp-id.js';
import { clampTimeoutMs, parseCreateOptions, parseGetOptions } from '../protocol/webauthn/webauthn-options.js';
import { authenticationResponseJSON, registrationResponseJSON, type AuthenticationResponseJSON, type RegistrationResponseJSON } from '../protocol/webauthn/webauthn-json.js';
import type { RequestBody, ResultFor } from '../protocol/messages.js';

/** What the browser vouches for: never taken from the page (docs/BROWSER.md "Origins"). */
export interface CallerContext {
  origin: string;
  crossOrigin: boolean;
  topOrigin?: string;
  /** The browser's name, shown on the authenticator ("Chromium"). */
  browser: string;
}

/** The one thing this needs from a pairing: AuthenticatorClient.request. */
export interface WebauthnTransport {
  request<B extends RequestBody>(body: B, opts: { timeoutSeconds: number; onAck?: () => void; signal?: AbortSignal; keepTimeoutOnAck?: boolean }): Promise<ResultFor<B['kind']>>;
}

export interface CeremonyOptions {
  signal?: AbortSignal;
  onAck?: () => void;
}

/**
 * One request, ended by the page's timeout whatever the authenticator does (WebAuthn L3 §5.1.3
 * step 20, §5.1.4.1 step 18: the lifetime timer). The relay client's ack extension (§5.2) would
 * otherwise move the end: shorten a 5 min timeout to 60 s after an ack, or stretch a 15 s one;
 * here an ack does not re-arm the relay client's timer, and this timer is the page's.
 * The deadline the request carries is the same timeout, so the authenticator withdraws its
 * prompt then (webauthn-core.ts). Expiry is `timeout` (NotAllowedError); an abort stays `cancelled`.
 */
async function requestWithin<B extends RequestBody>(t: WebauthnTransport, body: B, timeoutMs: number, o: CeremonyOptions): Promise<ResultFor<B['kind']>> {
  const stop = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    stop.abort();
  }, timeoutMs);
  const onAbort = (): void => stop.abort();
  if (o.signal?.aborted) stop.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await t.request(body, { timeoutSeconds: timeoutMs / 1000, signal: stop.signal, keepTimeoutOnAck: true, ...(o.onAck ? { onAck: o.onAck } : {}) });
  } catch (e) {
    if (expired) throw new LatchError('timeout', `the page's timeout (${Math.round(timeoutMs / 1000)} s) passed before the authenticator answered`);
    throw e;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

function rpIdFor(explicit: string | undefined, ctx: CallerContext): string {
  const origin = parseWebauthnOrigin(ctx.origin);
  const rpId = explicit ?? origin.host;
  checkRpId(rpId, ctx.origin);
  return rpId;
}

function clientDataFor(type: 'webauthn.create' | 'webauthn.get', challenge: Uint8Array, ctx: CallerContext): Uint8Array {
  return buildClientDataJSON({ type, challenge, origin: ctx.origin, crossOrigin: ctx.crossOrigin, ...(ctx.topOrigin ? { topOrigin: ctx.topOrigin } : {}) });
}

function wants(options: unknown, ext: string): boolean {
  const e = (options as { extensions?: Record<string, unknown> }).extensions;
  return typeof e === 'object' && e !== null && e[ext] === true;
}

export async function createCredential(t: WebauthnTransport, ctx: CallerContext, options: unknown, o: CeremonyOptions = {}): Promise<RegistrationResponseJSON> {
  const opts = parseCreateOptions(options);
  const rpId = rpIdFor(opts.rpId, ctx);
  const clientData = clientDataFor('webauthn.create', opts.challenge, ctx);
  const result = await requestWithin(
    t,
    {
      kind: 'webauthn_create',
      client_data: encodeBase64url(clientData),
      rp_id: rpId,
      rp_name: opts.rpName,
      user_id: encodeBase64url(opts.userId),
      user_name: opts.userName,
      user_display_name: opts.userDisplayName,
      algorithms: opts.algorithms,
      exclude: opts.excludeIds.map(encodeBase64url),
      user_verification: opts.userVerification,
      browser: ctx.browser,
    },
    clampTimeoutMs(opts.timeoutMs),
    o,
  );
  const json = registrationResponseJSON(clientData, result, wants(options, 'credProps'));
  if (json.id !== result.credential_id) throw new LatchError('bad_message', 'the authenticator answered with two different credential ids');
  return json;
}

export async function getAssertion(t: WebauthnTransport, ctx: CallerContext, options: unknown, o: CeremonyOptions = {}): Promise<AuthenticationResponseJSON> {
  const opts = parseGetOptions(options);
  const rpId = rpIdFor(opts.rpId, ctx);
  const clientData = clientDataFor('webauthn.get', opts.challenge, ctx);
  const result = await requestWithin(
    t,
    {
      kind: 'webauthn_get',
      client_data: encodeBase64url(clientData),
      rp_id: rpId,
      allow: opts.allowIds.map(encodeBase64url),
      user_verification: opts.userVerification,
      browser: ctx.browser,
    },
    clampTimeoutMs(opts.timeoutMs),
    o,
  );
  return authenticationResponseJSON(clientData, result);
}
