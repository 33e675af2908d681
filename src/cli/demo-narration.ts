// How every `l7proxy demo` story is told: colour on a terminal only, one line at a time, and
// the same ending: the cluster is always taken down, and the story says whether each step
// turned out as told (exit 1 if not).

export const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
export const green = (s: string): string => (process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s);
export const red = (s: string): string => (process.stdout.isTTY ? `\x1b[31m${s}\x1b[0m` : s);

export function say(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export class Story {
  #failures = 0;

  /** A step did not turn out as the story says. */
  fail(): void {
    this.#failures += 1;
  }

  /** Runs the steps, takes the cluster down whatever happened, and ends with `moral` if every step held. */
  async tell(cluster: { stop(): Promise<void> }, moral: string, steps: () => Promise<void>): Promise<number> {
    try {
      await steps();
    } catch (err) {
      process.stderr.write(`demo failed: ${(err as Error).message}\n`);
      this.fail();
    } finally {
      say();
      say(bold("Cleaning up (proxy stopped, rules removed, namespaces deleted)."));
      await cluster.stop();
    }
    if (this.#failures > 0) {
      say(red(`${this.#failures} step(s) did not turn out as the story says.`));
      return 1;
    }
    say(green(moral));
    return 0;
  }
}
