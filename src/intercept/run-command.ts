// Runs the system tools (nft, ip, iptables) that install the interception rules, optionally
// inside a named network namespace (`ip netns exec`), which is how tests and the demo put
// the rules into a namespace standing in for a node.

import { spawn } from "node:child_process";

export interface CommandScope {
  /** Network namespace name (as `ip netns list` shows it); the current namespace when absent. */
  netns?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const TIMEOUT_MS = 30_000;

export function scoped(argv: readonly string[], scope: CommandScope): string[] {
  return scope.netns === undefined ? [...argv] : ["ip", "netns", "exec", scope.netns, ...argv];
}

/** Resolves with the exit code and output; rejects only when the program cannot be started. */
export function runCommand(argv: readonly string[], scope: CommandScope = {}, input?: string): Promise<CommandResult> {
  const full = scoped(argv, scope);
  const [program, ...args] = full;
  if (program === undefined) return Promise.reject(new Error("empty command"));
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], timeout: TIMEOUT_MS });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8") + (signal ? `\nkilled by ${signal}` : ""),
      });
    });
    // A program that exits without reading its input closes the pipe early; that is its
    // answer (reported through the exit code), not an error of ours.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
}
