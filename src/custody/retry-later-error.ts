/** A refusal that tells the HTTP layer when to try again (429, or `status`, with Retry-After). */
import { LatchError } from '../util/latch-error.js';

export class RetryLaterError extends LatchError {
  constructor(code: string, message: string, readonly retryAfterSeconds: number, status = 429) {
    super(code, message, { status });
  }
}
