// Reading what a test helper process reports: one JSON object per line on its stdout.

import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Collects every JSON line a child writes to stdout (other lines are ignored) and lets a
 * test wait for one that matches. Attach it right after spawning, before output can be lost.
 */
export class JsonLines {
  readonly lines: unknown[] = [];
  private stderr = "";
  private exited: number | null | undefined = undefined;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess) {
    child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: child.stdout! }).on("line", (text) => {
      try {
        this.lines.push(JSON.parse(text));
      } catch {
        return;
      }
      for (const wake of this.waiters) wake();
    });
    child.on("exit", (code) => {
      this.exited = code;
      for (const wake of this.waiters) wake();
    });
  }

  /** Resolves with the first line (seen so far or later) that `accept` approves. */
  waitFor(accept: (line: unknown) => boolean, timeoutMs = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find(accept);
        if (found !== undefined) {
          done(null, found);
          return true;
        }
        if (this.exited !== undefined) {
          done(new Error(`process exited (${this.exited}) before the expected line; stderr: ${this.stderr}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => done(new Error(`no expected line within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const wake = (): void => void check();
      const done = (error: Error | null, value?: unknown): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (error) reject(error);
        else resolve(value);
      };
      if (!check()) this.waiters.add(wake);
    });
  }

  get errorOutput(): string {
    return this.stderr;
  }
}
