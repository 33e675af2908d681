// Running commands (optionally inside a network namespace) for the rule installer
// (src/intercept/run-command.ts), the demo, the benchmark and the end-to-end tests. Failures
// carry the command and its stderr, so a broken topology says exactly which step failed.
// Unlike the rest of src/netns, the container image keeps this file.

import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Resolve with a failed command's result instead of rejecting. */
  allowFail?: boolean;
  /** Kill the command (SIGTERM) after this long; it then counts as failed. */
  timeoutMs?: number;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const result = { code: code ?? -1, stdout, stderr: signal === null ? stderr : `${stderr}\nkilled by ${signal}` };
      if (result.code !== 0 && opts.allowFail !== true) {
        reject(new Error(`${cmd} ${args.join(" ")} failed (${result.code}): ${stderr.trim() || stdout.trim()}`));
      } else resolve(result);
    });
    if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.on("error", () => {
        /* the command may exit before reading its input; its exit code tells what happened */
      });
      child.stdin.end(opts.input);
    }
  });
}

export function inNetns(ns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ["ip", ["netns", "exec", ns, cmd, ...args]];
}

export function runIn(ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const [c, a] = inNetns(ns, cmd, args);
  return run(c, a, opts);
}

export function spawnIn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const [c, a] = inNetns(ns, cmd, args);
  return spawn(c, a, { stdio: ["ignore", "pipe", "pipe"], ...opts });
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
