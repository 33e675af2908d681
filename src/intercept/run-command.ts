// Runs the system tools (nft, ip, iptables) that install the interception rules, optionally
// inside a named network namespace (`ip netns exec`), which is how tests and the demo put
// the rules into a namespace standing in for a node. Built on the one command runner
// (src/netns/exec.ts); here a failed command is an answer to inspect, not an exception.

import { run, runIn, type CommandResult } from "../netns/exec.js";

export type { CommandResult };

export interface CommandScope {
  /** Network namespace name (as `ip netns list` shows it); the current namespace when absent. */
  netns?: string;
}

const TIMEOUT_MS = 30_000;

/** Resolves with the exit code and output; rejects only when the program cannot be started. */
export function runCommand(argv: readonly string[], scope: CommandScope = {}, input?: string): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(new Error("empty command"));
  const opts = { input: input ?? "", allowFail: true, timeoutMs: TIMEOUT_MS };
  return scope.netns === undefined ? run(program, args, opts) : runIn(scope.netns, program, args, opts);
}
