// Where ../shared (reference material beside the repository) lives, and how tests that need
// it behave when it is absent: a visible skip outside CI, a failure under CI=true.

import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED_DIR = path.resolve(REPO_ROOT, "../shared");
export const CONFORMANCE_DIR = path.join(SHARED_DIR, "conformance");

export const sharedPresent = existsSync(CONFORMANCE_DIR);

/** True when the tests must skip; prints why once. Throws under CI, where skipping is not allowed. */
export function skipWithoutShared(suite: string): boolean {
  if (sharedPresent) return false;
  if (process.env["CI"] === "true") throw new Error(`${suite}: ${CONFORMANCE_DIR} is missing, and CI=true requires it`);
  process.stderr.write(`SKIPPED ${suite}: ${CONFORMANCE_DIR} is absent (it sits beside the repository in this project's CI)\n`);
  return true;
}
