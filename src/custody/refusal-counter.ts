/**
 * Requests refused before the service saw them (no or bad token, bad body) are audited, but one
 * row each let anyone flood the log (issue 15 §5: 3,000 rows in 3.4 s). Per client address and
 * minute, the first refusal is written as it was, and the rest only counted; one summary row
 * per address closes the minute (`refused-requests`, detail {from, count, since}).
 */
import type { AuditEntry } from './audit-log.js';

export const REFUSAL_WINDOW_MS = 60_000;

export class RefusalCounter {
  readonly #windows = new Map<string, { start: number; more: number }>();

  constructor(private readonly audit: (e: AuditEntry) => void) {}

  refuse(from: string, e: AuditEntry, now = Date.now()): void {
    let w = this.#windows.get(from);
    if (w !== undefined && now - w.start >= REFUSAL_WINDOW_MS) {
      this.#summarise(from, w);
      w = undefined;
    }
    if (w === undefined) {
      this.#windows.set(from, { start: now, more: 0 });
      this.audit({ ...e, detail: { ...e.detail, from } });
      return;
    }
    w.more++;
  }

  /** Closes finished windows; `all` closes every window (shutdown). */
  sweep(now = Date.now(), all = false): void {
    for (const [from, w] of this.#windows) if (all || now - w.start >= REFUSAL_WINDOW_MS) this.#summarise(from, w);
  }

  #summarise(from: string, w: { start: number; more: number }): void {
    this.#windows.delete(from);
    if (w.more > 0) this.audit({ account: null, action: 'refused-requests', decision: 'refused', detail: { from, count: w.more, since: new Date(w.start).toISOString() } });
  }
}
