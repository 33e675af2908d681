// A long-running helper process (upstream server, proxy) started in a network namespace and
// pinned to a CPU set. Keeps the tail of its output (always read, so a chatty process never
// blocks on a full pipe) for error messages, and stops with SIGTERM then SIGKILL.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

const LOG_TAIL = 16 * 1024;

export interface ProcessSpec {
  name: string;
  netns: string;
  /** taskset CPU list ("1", "0-1"); null: not pinned. */
  cpus: string | null;
  argv: string[];
  /** Raise the open-file limit (1,000 client connections need ~2,000 descriptors in a proxy). */
  nofile?: number;
  /**
   * Send stderr to this file instead of a pipe to the benchmark: a process that logs a lot
   * (l7proxy at --log-level info) would otherwise be measured together with the benchmark's
   * own reading of the pipe, on an unpinned CPU. Stdout goes there too (--trace-gc writes it).
   */
  stderrFile?: string;
  /** Working directory (where --cpu-prof and --heap-prof write their files). */
  cwd?: string;
}

export class ManagedProcess {
  readonly child: ChildProcess;
  log = "";

  constructor(readonly spec: ProcessSpec) {
    // `ip netns exec`, `prlimit` and `taskset` each exec the next, so the pid is the program's.
    const argv = [
      "ip", "netns", "exec", spec.netns,
      "prlimit", `--nofile=${spec.nofile ?? 16384}:`, "--",
      ...(spec.cpus === null ? [] : ["taskset", "-c", spec.cpus]),
      ...spec.argv,
    ];
    const stderrFd = spec.stderrFile === undefined ? null : openSync(spec.stderrFile, "w");
    this.child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", stderrFd ?? "pipe", stderrFd ?? "pipe"], ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}) });
    if (stderrFd !== null) closeSync(stderrFd);
    const keep = (d: string): void => {
      this.log = (this.log + d).slice(-LOG_TAIL);
    };
    this.child.stdout?.setEncoding("utf8").on("data", keep);
    this.child.stderr?.setEncoding("utf8").on("data", keep);
    this.child.on("error", (err) => keep(`\n[spawn error: ${err.message}]`));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The tail of what the process wrote (stdout and stderr). */
  tail(chars = 4000): string {
    let text = this.log;
    if (this.spec.stderrFile !== undefined) {
      try {
        text += readFileSync(this.spec.stderrFile, "utf8").slice(-chars);
      } catch {
        // Not written yet.
      }
    }
    return text.slice(-chars);
  }

  describeExit(): string {
    return `${this.spec.name} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.tail()}`;
  }

  async stop(timeoutMs = 5000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await gone;
    clearTimeout(t);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns true; throws with the process log when it exits or times out. */
export async function waitUntil(p: ManagedProcess, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (p.exited) throw new Error(p.describeExit());
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${p.spec.name} not ready after ${timeoutMs} ms:\n${p.tail()}`);
}
