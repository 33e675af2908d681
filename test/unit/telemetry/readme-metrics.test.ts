// The README's metric table lists exactly the metrics the one metrics module defines.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { METRIC_DEFINITIONS, type MetricDefinition } from "../../../src/telemetry/metrics.js";

it("README lists every metric with an example query using it", () => {
  const readme = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8");
  const rows = [...readme.matchAll(/^\| `([a-z0-9_:]+)` \| .* \| `(.*)` \|$/gm)].map((m) => ({ name: m[1]!, query: m[2]! }));
  const defined = (Object.values(METRIC_DEFINITIONS) as MetricDefinition[]).map((d) => d.name);
  expect(rows.map((r) => r.name).sort()).toEqual([...defined].sort());
  for (const r of rows) expect(r.query).toContain(r.name);
});
