// The results table, as aligned text for the terminal and as Markdown for RESULTS.md: one
// row per (measurement, target), medians over the rounds.
// "×direct"/"×haproxy" compare throughput (rps) for throughput rows and p99 for latency rows,
// so >1 is better for throughput and worse for latency; "+p99" is the p99 added over direct.

import type { TargetName } from "../env/bench-env.js";
import type { CellResult, TargetSummary } from "../results.js";

export const COLUMNS = ["measurement", "target", "rps", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "denied", "×direct", "×haproxy", "+p99 ms", "vCPU", "vCPU/1k rps", "RSS MB", "acceptq drops", "SYN rtx", "gen lag p99 ms"] as const;

function num(x: number | null | undefined, digits: number): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "-";
  return x.toFixed(digits);
}

function ms(x: number): string {
  if (!Number.isFinite(x)) return "-";
  return x < 10 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(1);
}

export function tableRows(results: readonly CellResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    for (const t of r.cell.targets) {
      const s: TargetSummary | undefined = r.summary[t];
      const c = r.comparison[t as TargetName];
      if (s === undefined) {
        rows.push([r.cell.key, t, "not run", ...COLUMNS.slice(3).map(() => "")]);
        continue;
      }
      rows.push([
        r.cell.key,
        t,
        num(s.rps, 0),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.p999),
        ms(s.max),
        String(s.errors),
        String(s.denied),
        num(c?.vsDirect, 2),
        num(c?.vsHaproxy, 2),
        ms(c?.addedP99 ?? Number.NaN),
        num(s.vcpu, 2),
        num(s.vcpuPer1kRps, 3),
        num(s.peakRssMb, 1),
        num(s.listenDrops, 0),
        num(s.synRetrans, 0),
        // The open-loop generator's own lateness: a latency figure is only as good as this.
        s.sendLagP99 === null ? "-" : ms(s.sendLagP99),
      ]);
    }
  }
  return rows;
}

export function textTable(results: readonly CellResult[]): string {
  const rows = [[...COLUMNS] as string[], ...tableRows(results)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]): string =>
    r.map((v, i) => (i < 2 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join("  ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  const out: string[] = [fmt(rows[0] as string[]), sep];
  let last = "";
  for (const r of rows.slice(1)) {
    // The measurement name once per group keeps the table readable.
    const shown = r[0] === last ? ["", ...r.slice(1)] : r;
    last = r[0] as string;
    out.push(fmt(shown));
  }
  return `${out.join("\n")}\n`;
}

export function markdownTable(results: readonly CellResult[]): string {
  const rows = tableRows(results);
  const esc = (v: string): string => v.replace(/\|/g, "\\|");
  const head = `| ${COLUMNS.join(" | ")} |`;
  const align = `| ${COLUMNS.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`;
  return [head, align, ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n") + "\n";
}
