// Every PromQL query in the Grafana dashboards must use only metrics l7proxy exports, with
// label names those metrics have. Metric names and labels come from the metrics module and
// from a registry with the process metrics registered, never from a list kept here.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { labelNamesOf, METRIC_DEFINITIONS, type MetricDefinition } from "../../../src/telemetry/metrics.js";
import { registerProcessMetrics } from "../../../src/telemetry/metrics.js";
import { readQuery } from "./promql-selectors.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const grafanaDir = path.join(repoRoot, "deploy/grafana");

/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = ["instance", "job"];

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; legendFormat?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

/** series name -> label names it may carry. */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const def of Object.values(METRIC_DEFINITIONS) as MetricDefinition[]) {
    // Dashboards must work with the default, workload-level labels.
    const labels = new Set([...labelNamesOf(def, false), ...TARGET_LABELS]);
    if (def.kind === "histogram") {
      out.set(`${def.name}_bucket`, new Set([...labels, "le"]));
      out.set(`${def.name}_sum`, labels);
      out.set(`${def.name}_count`, labels);
    } else out.set(def.name, labels);
  }
  const registry = new Registry();
  registerProcessMetrics(registry);
  for (const m of await registry.getMetricsAsJSON()) {
    const values = m.values as { labels: Record<string, unknown>; metricName?: string }[];
    const names = new Set<string>(m.type === ("histogram" as unknown) ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]);
    for (const n of names) out.set(n, new Set(TARGET_LABELS));
    for (const v of values) {
      const n = v.metricName ?? m.name;
      for (const l of Object.keys(v.labels)) out.get(n)?.add(l);
    }
  }
  return out;
}

/** Problems with one query; empty when it only uses what l7proxy exports. */
function checkQuery(expr: string, series: Map<string, Set<string>>, legendFormat?: string): string[] {
  const problems: string[] = [];
  const q = readQuery(expr);
  if (q.selectors.length === 0) problems.push(`no metric in: ${expr}`);
  const available = new Set<string>();
  for (const s of q.selectors) {
    const labels = series.get(s.metric);
    if (labels === undefined) {
      problems.push(`unknown metric '${s.metric}' in: ${expr}`);
      continue;
    }
    for (const l of labels) available.add(l);
    for (const m of s.matchers) {
      if (!labels.has(m.label)) problems.push(`metric '${s.metric}' has no label '${m.label}' in: ${expr}`);
    }
  }
  for (const g of q.groupingLabels) {
    if (!available.has(g)) problems.push(`grouping label '${g}' is on none of the query's metrics in: ${expr}`);
  }
  for (const m of (legendFormat ?? "").matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
    if (!q.groupingLabels.includes(m[1]!)) problems.push(`legend uses '${m[1]}', which the query does not keep, in: ${expr}`);
  }
  return problems;
}

function checkVariableQuery(query: string, series: Map<string, Set<string>>): string[] {
  const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(query.trim());
  if (m === null) return [`unsupported variable query: ${query}`];
  const problems = checkQuery(m[1]!, series);
  const q = readQuery(m[1]!);
  for (const s of q.selectors) {
    if (series.get(s.metric)?.has(m[2]!) !== true) problems.push(`metric '${s.metric}' has no label '${m[2]}' in: ${query}`);
  }
  return problems;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const files = readdirSync(grafanaDir).filter((f) => f.endsWith(".json"));
const dashboards = files.map((f) => ({ file: f, d: JSON.parse(readFileSync(path.join(grafanaDir, f), "utf8")) as Dashboard }));

describe("Grafana dashboards", () => {
  let series: Map<string, Set<string>>;
  beforeAll(async () => {
    series = await exportedSeries();
  });

  it("ship 'L7 (Namespace)' and 'L7 (Workload)'", () => {
    expect(dashboards.map((x) => x.d.title).sort()).toEqual(["L7 (Namespace)", "L7 (Workload)"]);
  });

  for (const { file, d } of dashboards) {
    describe(file, () => {
      it("uses only metrics and labels l7proxy exports", () => {
        const problems: string[] = [];
        let count = 0;
        for (const p of allPanels(d.panels)) {
          for (const t of p.targets ?? []) {
            count++;
            try {
              problems.push(...checkQuery(t.expr, series, t.legendFormat).map((x) => `${p.title}: ${x}`));
            } catch (err) {
              problems.push(`${p.title}: ${(err as Error).message}`);
            }
          }
        }
        for (const v of d.templating.list) {
          if (v.type !== "query") continue;
          const query = typeof v.query === "string" ? v.query : (v.query as { query: string }).query;
          problems.push(...checkVariableQuery(query, series).map((x) => `variable ${v.name}: ${x}`));
        }
        expect(problems).toEqual([]);
        expect(count).toBeGreaterThan(10);
      });

      it("has the panels the issue asks for", () => {
        const titles = allPanels(d.panels).map((p) => p.title);
        for (const want of [
          "Traffic by verdict",
          "Requests by method and status",
          "Denied requests by source workload",
          "Denied requests by destination workload",
          "Top denied sources",
          "Policies that deny most",
          "Upstream latency percentiles",
          "Latency added by the proxy",
          "Active connections",
        ]) {
          expect(titles).toContain(want);
        }
      });

      it("has namespace (and, for workloads, workload) variables used by its queries", () => {
        const names = d.templating.list.map((v) => v.name);
        expect(names).toContain("namespace");
        if (d.title === "L7 (Workload)") expect(names).toContain("workload");
        const exprs = allPanels(d.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
        expect(exprs.some((e) => e.includes("$namespace"))).toBe(true);
        if (d.title === "L7 (Workload)") expect(exprs.some((e) => e.includes("$workload"))).toBe(true);
      });
    });
  }

  describe("the checker itself", () => {
    it("catches unknown metrics, unknown labels and unknown grouping labels", () => {
      expect(checkQuery("sum(rate(envoy_http_rq_totl[5m]))", series)).toEqual([expect.stringContaining("unknown metric 'envoy_http_rq_totl'")]);
      expect(checkQuery('sum(rate(hubble_http_requests_total{source_pod="x"}[5m]))', series)).toEqual([expect.stringContaining("no label 'source_pod'")]);
      expect(checkQuery("sum by (policy) (rate(hubble_http_requests_total[5m]))", series)).toEqual([expect.stringContaining("grouping label 'policy'")]);
      expect(checkQuery("sum(rate(hubble_http_requests_total[5m]))", series, "{{method}}")).toEqual([expect.stringContaining("legend uses 'method'")]);
      expect(() => readQuery("sum(rte(hubble_http_requests_total[5m]))")).toThrow(/unknown function 'rte'/);
      expect(() => readQuery("sum(rate(hubble_http_requests_total[5m])")).toThrow(/unclosed/);
    });

    it("accepts histogram series, le and Grafana's interval variables", () => {
      expect(
        checkQuery(
          'histogram_quantile(0.99, sum by (le) (rate(hubble_http_request_duration_seconds_bucket{phase="proxy", destination_namespace=~"$namespace"}[$__rate_interval])))',
          series,
        ),
      ).toEqual([]);
    });
  });
});
