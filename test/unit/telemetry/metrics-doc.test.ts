// docs/metrics.md documents every metric the metrics module defines, with all its labels
// and an example query that uses it.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { labelNamesOf, METRIC_DEFINITIONS, type MetricDefinition } from "../../../src/telemetry/metrics.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const doc = readFileSync(path.join(repoRoot, "docs/metrics.md"), "utf8");

/** The text under `### name`, up to the next heading. */
function section(name: string): string | null {
  const start = doc.indexOf(`\n### ${name}\n`);
  if (start < 0) return null;
  const rest = doc.slice(start + 1);
  const end = rest.slice(1).search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

describe("docs/metrics.md", () => {
  for (const def of Object.values(METRIC_DEFINITIONS) as MetricDefinition[]) {
    it(`documents ${def.name} with its labels and an example query`, () => {
      const text = section(def.name);
      expect(text, `no '### ${def.name}' section`).not.toBeNull();
      for (const label of labelNamesOf(def, true)) expect(text, `label ${label}`).toContain(`\`${label}\``);
      const example = /```promql\n([\s\S]*?)```/.exec(text!);
      expect(example, "example query").not.toBeNull();
      expect(example![1]).toContain(def.name);
    });
  }

  it("documents no metric the module does not define", () => {
    const defined = new Set((Object.values(METRIC_DEFINITIONS) as MetricDefinition[]).map((d) => d.name));
    const documented = [...doc.matchAll(/\n### ([a-z0-9_:]+)\n/g)].map((m) => m[1]!);
    expect(documented.filter((n) => !defined.has(n))).toEqual([]);
  });
});
