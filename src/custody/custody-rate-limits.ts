/**
 * Rate limits of the custody API (issue 15 §3), token buckets from the relay's RateLimiter keyed
 * by the client address `--trusted-proxy` resolves (util/client-address.ts):
 *   - every /custody/v1 request, per IP: REQUESTS;
 *   - the login routes (start, complete, oidc), per IP: LOGINS;
 *   - /login/start per email: CODES_PER_EMAIL (each start mails someone a code).
 * Wrong codes are limited further by dev-issuer.ts's lockout. Refusals are 429 `rate_limited`
 * with Retry-After.
 */
import { RateLimiter, type RateLimit } from '../relay/rate-limiter.js';
import { RetryLaterError } from './retry-later-error.js';

export const REQUESTS: RateLimit = { perSecond: 50, burst: 500 };
export const LOGINS: RateLimit = { perSecond: 0.5, burst: 30 };
export const CODES_PER_EMAIL: RateLimit = { perSecond: 1 / 60, burst: 5 };

export class CustodyRateLimits {
  readonly #requests = new RateLimiter(REQUESTS);
  readonly #logins = new RateLimiter(LOGINS);
  readonly #codes = new RateLimiter(CODES_PER_EMAIL);
  #swept = 0;

  request(ip: string, now = Date.now()): void {
    if (now - this.#swept > 60_000) {
      this.#swept = now;
      for (const l of [this.#requests, this.#logins, this.#codes]) l.sweep(now);
    }
    take(this.#requests, ip, now, 'too many requests from this address; slow down');
  }

  login(ip: string, now = Date.now()): void {
    take(this.#logins, ip, now, 'too many login attempts from this address; wait a little');
  }

  /** `email` as parsed (lower case). */
  loginCode(email: string, now = Date.now()): void {
    take(this.#codes, email, now, 'too many login codes asked for this email; wait a little');
  }
}

function take(l: RateLimiter, key: string, now: number, message: string): void {
  const d = l.take(key, now);
  if (!d.ok) throw new RetryLaterError('rate_limited', message, d.retryAfterSeconds);
}
