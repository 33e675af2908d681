// One table of error codes: the docs list exactly the table, and the code uses no code the
// table does not define.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ERROR_CODES } from "../../../src/errors/codes.js";

const ROOT = join(import.meta.dirname, "../../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("error codes", () => {
  test("docs/errors.md lists every code in the table, and nothing else", () => {
    const docs = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
    const documented = [...docs.matchAll(/^\| `(L7P_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  test("every L7P_ code used in src/ is defined in the table", () => {
    const defined = new Set(Object.keys(ERROR_CODES));
    const used = new Set<string>();
    for (const file of sourceFiles(join(ROOT, "src"))) {
      if (file.endsWith(join("errors", "codes.ts"))) continue;
      for (const m of readFileSync(file, "utf8").matchAll(/"(L7P_[A-Z0-9_]+)"/g)) used.add(m[1]!);
    }
    expect([...used].filter((c) => !defined.has(c))).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  });
});
