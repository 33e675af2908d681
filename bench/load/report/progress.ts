// The live progress line: rewritten in place on a terminal, one line per step otherwise
// (CI logs), always on stderr so stdout carries only the results.

export class Progress {
  #done = 0;
  readonly #start = Date.now();
  readonly #tty = process.stderr.isTTY === true;

  constructor(readonly total: number, readonly estimateSec: number) {}

  /** A counted step: one measurement run. */
  step(what: string): void {
    this.#done++;
    this.status(what);
  }

  /** Shows what is happening between counted steps (restarts, warm-ups). */
  status(what: string): void {
    const elapsed = (Date.now() - this.#start) / 1000;
    const line = `[${this.#done}/${this.total}] ${elapsed.toFixed(0)}s of ~${this.estimateSec.toFixed(0)}s  ${what}`;
    if (this.#tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  note(message: string): void {
    if (this.#tty) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`${message}\n`);
  }

  end(): void {
    if (this.#tty) process.stderr.write("\r\x1b[2K");
  }
}
