// The repository root, found from this file whether it runs as TypeScript (tests) or
// compiled into dist-bench/ (npm run bench): the nearest directory up whose package.json
// is l7proxy's.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "l7proxy") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the l7proxy repository root above the benchmark");
    dir = up;
  }
}

export const REPO_ROOT = findRoot();

export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}
