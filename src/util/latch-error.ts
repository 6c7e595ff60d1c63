/**
 * The one error class every part of Latch throws for expected failures.
 *
 * `code` is stable: scripts, peers and tests match on it, never on `message`.
 * `message` is for a person. Neither may ever contain key material: callers pass
 * descriptions, not values. Caller bugs (wrong argument types) are `TypeError`s instead.
 */
export class LatchError extends Error {
  readonly code: string;
  /** HTTP status when this error crosses an HTTP boundary. */
  readonly status: number;
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LatchError';
    this.code = code;
    this.status = options?.status ?? 400;
  }
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isLatchError(e: unknown, code?: string): e is LatchError {
  return e instanceof LatchError && (code === undefined || e.code === code);
}
