/**
 * Token bucket per client key (IP address), PROTOCOL.md §3.4. Buckets that have refilled
 * completely carry no information and are dropped by sweep(), so memory stays
 * proportional to the clients active within the last burst/perSecond seconds.
 */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new TypeError('rate limit needs perSecond > 0 and burst >= 1');
    this.#limit = limit;
  }

  take(key: string, now: number): RateDecision {
    const { perSecond, burst } = this.#limit;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perSecond)) };
  }

  sweep(now: number): void {
    const { perSecond, burst } = this.#limit;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.#buckets.delete(key);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
