/**
 * Text written in one event-loop turn leaves in one write. A daemon's log (`latch device run`
 * under systemd, or a bench reading its stderr) otherwise costs one write(2) and one wake-up of
 * the reader per line: five per SSH sign request (issue 9; PROTOCOL.md §3.8, "fourth session").
 * Whatever is held when the process exits is written then, so a line before process.exit() is
 * never lost. Everything that writes to the same stream must go through the same TurnWriter, or
 * its text could overtake what is held.
 */
export class TurnWriter {
  #held = '';
  #scheduled = false;
  readonly #flushOnExit = (): void => this.flush();

  constructor(private readonly sink: (text: string) => void) {
    process.on('exit', this.#flushOnExit);
  }

  write(text: string): void {
    this.#held += text;
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After this turn's I/O callbacks: the lines of one request, logged across its promise jobs, join.
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /** Writes out what is held now. */
  flush(): void {
    if (this.#held === '') return;
    const text = this.#held;
    this.#held = '';
    this.sink(text);
  }

  /** Writes out what is held and stops listening for the process's exit. */
  close(): void {
    this.flush();
    process.off('exit', this.#flushOnExit);
  }
}
