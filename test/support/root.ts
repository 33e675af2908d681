// Tests that need root (network namespaces, nftables) run whenever they can, and always
// under CI=true: there, missing root is a failure, never a silent skip.
import { isRoot } from "../../src/netns/exec.js";

export function requireRootOrSkip(what: string): boolean {
  if (isRoot()) return true;
  if (process.env.CI === "true") throw new Error(`${what}: CI=true requires root to run network-namespace tests`);
  console.warn(`SKIPPED ${what}: needs root (network namespaces); run as root or under CI=true`);
  return false;
}
