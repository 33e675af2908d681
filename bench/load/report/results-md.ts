// bench/RESULTS.md: the latest table, the chart and the machine, rewritten after each run
// (the text between the markers; anything else in the file is kept).

import type { BenchOptions } from "../options.js";
import type { CellResult } from "../results.js";
import { describeMachine, type MachineInfo } from "./machine.js";
import { markdownTable } from "./table.js";

export const BEGIN = "<!-- bench:results:begin (written by npm run bench) -->";
export const END = "<!-- bench:results:end -->";

export function resultsSection(results: readonly CellResult[], m: MachineInfo, o: BenchOptions, when: Date, notes: readonly string[]): string {
  return [
    BEGIN,
    `## Latest run: ${when.toISOString()}${o.quick ? " (--quick)" : ""}`,
    "",
    `Machine: ${describeMachine(m)}.`,
    "",
    `Runs: ${o.durationSec} s measured after ${o.warmupSec} s warm-up, ${o.rounds} interleaved rounds per measurement, medians shown` +
      `${results.some((r) => r.cell.telemetry) ? ` (telemetry: ${o.telemetryRounds} rounds, proxies restarted for each)` : ""}` +
      `${o.pin ? "; proxy pinned to CPU 1, client and upstream to CPU 0" : "; unpinned"}.`,
    ...notes.map((n) => `\n${n}`),
    "",
    "![latency against offered rate, and throughput](results.svg)",
    "",
    markdownTable(results),
    END,
  ].join("\n");
}

export function updateResultsMd(existing: string, section: string): string {
  const b = existing.indexOf(BEGIN);
  const e = existing.indexOf(END);
  if (b >= 0 && e > b) return existing.slice(0, b) + section + existing.slice(e + END.length);
  return `${existing.trimEnd()}${existing.trim() === "" ? "" : "\n\n"}${section}\n`;
}
