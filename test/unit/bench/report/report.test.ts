import { describe, expect, test } from "vitest";
import type { MachineInfo } from "../../../../bench/load/report/machine.js";
import { BEGIN, END, resultsSection, updateResultsMd } from "../../../../bench/load/report/results-md.js";
import { escapeXml, latencySeries, logTicks, niceMax, renderChart, throughputGroups } from "../../../../bench/load/report/svg-chart.js";
import { markdownTable, textTable } from "../../../../bench/load/report/table.js";
import { parseOptions } from "../../../../bench/load/options.js";
import { cellResult } from "../../../../bench/load/results.js";
import type { Cell } from "../../../../bench/load/plan.js";
import { run, throughputCell } from "../fixtures.js";

const latencyCell = (rate: number): Cell => ({ ...throughputCell, key: `latency@${rate}rps c=64 body=0 rules=1`, kind: "latency", rate });
const results = [
  cellResult(throughputCell, [run("direct", 0, 40_000, 1), run("l7proxy", 0, 20_000, 3, { cpuSeconds: 1, wallSeconds: 1, tcp: { ListenOverflows: 2, ListenDrops: 3, TCPSynRetrans: 4, TCPTimeouts: 0, TCPReqQFullDrop: 0, TCPBacklogDrop: 0 } }), run("haproxy", 0, 10_000, 2)]),
  cellResult(latencyCell(1000), [run("direct", 0, 1000, 0.2), run("l7proxy", 0, 1000, 0.5, { sendLagP99: 0.25 }), run("haproxy", 0, 1000, 0.4)]),
  cellResult(latencyCell(3000), [run("direct", 0, 3000, 0.3), run("l7proxy", 0, 3000, 0.9), run("haproxy", 0, 3000, 0.6)]),
];

describe("tables", () => {
  test("the text table has one row per target with ratios and cost", () => {
    const t = textTable(results);
    const row = t.split("\n").find((l) => /^\s*l7proxy\s+20000/.test(l)) ?? "";
    expect(row.trim().split(/\s+/)).toEqual(["l7proxy", "20000", "0.750", "1.500", "3.000", "6.000", "9.000", "0", "0", "0.50", "2.00", "2.000", "1.00", "0.050", "-", "5", "4", "-"]);
  });

  test("latency rows show the generator's own send lag next to the figures", () => {
    const row = textTable(results).split("\n").find((l) => /^\s*l7proxy\s+1000\s/.test(l)) ?? "";
    expect(row.trim().split(/\s+/).at(-1)).toBe("0.250");
  });

  test("the markdown table has a header, an alignment row and a row per target", () => {
    const md = markdownTable(results).trim().split("\n");
    expect(md).toHaveLength(2 + 9);
    expect(md[0]).toMatch(/^\| measurement \| target \| rps/);
    expect(md[1]).toMatch(/^\| --- \| --- \| ---: /);
  });
});

describe("SVG chart", () => {
  test("one latency line per target and percentile, one bar per target and throughput cell", () => {
    expect(latencySeries(results).map((s) => `${s.target} ${s.percentile} ${s.points.length}`)).toContain("l7proxy p99 2");
    expect(latencySeries(results)).toHaveLength(9);
    expect(throughputGroups(results)).toEqual([{ label: throughputCell.key, bars: [{ target: "direct", value: 40_000 }, { target: "l7proxy", value: 20_000 }, { target: "haproxy", value: 10_000 }] }]);
    const svg = renderChart(results, "a <test> & more");
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(9);
    expect(svg).toContain("a &lt;test&gt; &amp; more");
    // Bars are proportional: l7proxy's is half of direct's height.
    const h = (t: string) => Number(new RegExp(`height="([0-9.]+)" fill="[^"]+"><title>[^<]* ${t}: `).exec(svg)?.[1]);
    expect(h("l7proxy") / h("direct")).toBeCloseTo(0.5, 2);
  });

  test("every opened element is closed", () => {
    const svg = renderChart(results, "x");
    const opened = (svg.match(/<(svg|g|text|path|rect|title)[\s>]/g) ?? []).length;
    const closed = (svg.match(/<\/(svg|g|text|path|rect|title)>/g) ?? []).length + (svg.match(/<(rect|line|circle|path)[^>]*\/>/g) ?? []).filter((t) => /^<(rect|path)/.test(t)).length;
    expect(closed).toBe(opened);
  });

  test("axis helpers", () => {
    expect(logTicks(0.15, 30)).toEqual([0.2, 0.5, 1, 2, 5, 10, 20]);
    expect(niceMax(37_000)).toBe(50_000);
    expect(escapeXml('"<&>')).toBe("&quot;&lt;&amp;&gt;");
  });
});

describe("RESULTS.md", () => {
  const machine: MachineInfo = { cpuModel: "Test CPU", cores: 2, kernel: "6.1", node: "v20", haproxy: "HAProxy 2.6", nginx: "nginx/1.22", wrk: "wrk 4.1", memTotalMb: 1024 };
  const section = resultsSection(results, machine, parseOptions(["--quick"], "/out"), new Date("2026-01-02T03:04:05Z"), ["a note"]);

  test("the section names the machine, the run and embeds the chart and the table", () => {
    expect(section).toContain("Test CPU, 2 cores");
    expect(section).toContain("2026-01-02T03:04:05.000Z (--quick)");
    expect(section).toContain("![latency against offered rate, and throughput](results.svg)");
    expect(section).toContain("| l7proxy | 20000 |");
    expect(section).toContain("a note");
  });

  test("replaces only the text between the markers", () => {
    const before = `# Bench\n\nintro\n\n${BEGIN}\nold\n${END}\n\n## Notes\nkept\n`;
    const after = updateResultsMd(before, section);
    expect(after.startsWith("# Bench\n\nintro\n\n")).toBe(true);
    expect(after).not.toContain("\nold\n");
    expect(after.endsWith("\n\n## Notes\nkept\n")).toBe(true);
    expect(updateResultsMd("# Bench\n", section)).toBe(`# Bench\n\n${section}\n`);
  });
});
