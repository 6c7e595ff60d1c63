/** A refusal that tells the HTTP layer when to try again (429 with Retry-After). */
import { LatchError } from '../util/latch-error.js';

export class RetryLaterError extends LatchError {
  constructor(code: string, message: string, readonly retryAfterSeconds: number) {
    super(code, message, { status: 429 });
  }
}
