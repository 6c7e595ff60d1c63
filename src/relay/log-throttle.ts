/**
 * Per-client throttle for log lines the client can provoke at will (auth failures,
 * PROTOCOL.md §3.2, §3.4): at most `perWindow` lines per client per window, then one line
 * saying further lines are suppressed, and at the end of the window one summary line with
 * the count. Without it a flood of forged proofs turns into a flood of log writes.
 */
export class LogThrottle {
  readonly #log: (line: string) => void;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #clients = new Map<string, { start: number; logged: number; suppressed: number; label: string }>();

  constructor(log: (line: string) => void, opts: { perWindow: number; windowMs: number }) {
    if (!(opts.perWindow >= 1) || !(opts.windowMs > 0)) throw new TypeError('log throttle needs perWindow >= 1 and windowMs > 0');
    this.#log = log;
    this.#perWindow = opts.perWindow;
    this.#windowMs = opts.windowMs;
  }

  /** Logs `line` for `client` (an IP address) unless its budget for this window is spent. */
  line(client: string, what: string, line: string, now: number): void {
    let c = this.#clients.get(client);
    if (c !== undefined && now - c.start >= this.#windowMs) {
      this.#summarise(client, c);
      c = undefined;
    }
    if (c === undefined) {
      c = { start: now, logged: 0, suppressed: 0, label: what };
      this.#clients.set(client, c);
    }
    if (c.logged < this.#perWindow) {
      c.logged++;
      this.#log(line);
      if (c.logged === this.#perWindow) {
        this.#log(`${what} from ${client}: ${this.#perWindow} lines in ${this.#windowMs / 1000} s; further lines suppressed until a summary`);
      }
      return;
    }
    c.suppressed++;
  }

  /** Writes the summaries of finished windows and forgets them; call periodically. */
  sweep(now: number): void {
    for (const [client, c] of this.#clients) {
      if (now - c.start >= this.#windowMs) this.#summarise(client, c);
    }
  }

  #summarise(client: string, c: { suppressed: number; label: string }): void {
    this.#clients.delete(client);
    if (c.suppressed > 0) this.#log(`${c.label} from ${client}: ${c.suppressed} more suppressed in the last ${this.#windowMs / 1000} s`);
  }
}
