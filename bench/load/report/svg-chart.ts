// A small SVG renderer for the benchmark's two pictures, with no dependencies:
//   1. latency percentiles (p50 solid, p99 dashed, p99.9 dotted) against offered rate, one
//      colour per target, both axes logarithmic;
//   2. throughput bars, one group per throughput measurement, one bar per target.

import type { TargetName } from "../env/bench-env.js";
import type { CellResult } from "../results.js";

export const TARGET_COLORS: Record<TargetName, string> = {
  direct: "#7f7f7f",
  l7proxy: "#1f77b4",
  haproxy: "#d62728",
  "direct-lo": "#bcbcbc",
  "l7proxy-lo": "#6baed6",
  "haproxy-lo": "#fc9272",
  "l7proxy-notel": "#2ca02c",
  "l7proxy-info": "#9467bd",
  "l7proxy-lo-notel": "#98df8a",
  "l7proxy-lo-info": "#c5b0d5",
  "l7proxy-workers": "#17becf",
  "haproxy-threads": "#ff7f0e",
};

export interface Series {
  target: TargetName;
  percentile: "p50" | "p99" | "p999";
  points: Array<{ x: number; y: number }>;
}

export interface BarGroup {
  label: string;
  bars: Array<{ target: TargetName; value: number }>;
}

const W = 900;
const PANEL_H = 340;
const M = { left: 80, right: 170, top: 40, bottom: 70 };
const DASH: Record<Series["percentile"], string> = { p50: "", p99: "6 4", p999: "2 3" };

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Powers of ten (and 2x, 5x between them) covering [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(Number(v.toPrecision(3)));
    }
  }
  return out;
}

export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function text(x: number, y: number, s: string, extra = ""): string {
  return `<text x="${fmt(x)}" y="${fmt(y)}" ${extra}>${escapeXml(s)}</text>`;
}

export function latencyPanel(series: readonly Series[], y0: number): string {
  const pts = series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0);
  const title = text(M.left, y0 + 24, "Latency against offered rate (open loop, from scheduled send time)", 'font-weight="bold"');
  if (pts.length === 0) return `<g>${title}${text(M.left, y0 + 80, "no latency measurements")}</g>`;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const [xlo, xhi] = [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3];
  const [ylo, yhi] = [Math.min(...ys) / 1.5, Math.max(...ys) * 1.5];
  const pw = W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const X = (x: number): number => M.left + ((Math.log10(x) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo))) * pw;
  const Y = (y: number): number => y0 + M.top + ph - ((Math.log10(y) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo))) * ph;
  const parts: string[] = [title];
  parts.push(`<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of logTicks(ylo, yhi)) {
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${fmt(Y(t))}" y2="${fmt(Y(t))}" stroke="#ddd"/>`);
    parts.push(text(M.left - 6, Y(t) + 4, `${t}`, 'text-anchor="end"'));
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<line x1="${fmt(X(x))}" x2="${fmt(X(x))}" y1="${y0 + M.top}" y2="${y0 + M.top + ph}" stroke="#eee"/>`);
    parts.push(text(X(x), y0 + M.top + ph + 18, `${x}`, 'text-anchor="middle"'));
  }
  parts.push(text(M.left + pw / 2, y0 + PANEL_H - 22, "offered rate (requests/s)", 'text-anchor="middle"'));
  parts.push(text(18, y0 + M.top + ph / 2, "latency (ms)", `transform="rotate(-90 18 ${fmt(y0 + M.top + ph / 2)})" text-anchor="middle"`));
  for (const s of series) {
    const p = s.points.filter((q) => q.x > 0 && q.y > 0).sort((a, b) => a.x - b.x);
    if (p.length === 0) continue;
    const color = TARGET_COLORS[s.target];
    const d = p.map((q, i) => `${i === 0 ? "M" : "L"}${fmt(X(q.x))},${fmt(Y(q.y))}`).join(" ");
    const dash = DASH[s.percentile] === "" ? "" : ` stroke-dasharray="${DASH[s.percentile]}"`;
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}><title>${escapeXml(`${s.target} ${s.percentile}`)}</title></path>`);
    for (const q of p) parts.push(`<circle cx="${fmt(X(q.x))}" cy="${fmt(Y(q.y))}" r="3" fill="${color}"/>`);
  }
  const targets = [...new Set(series.map((s) => s.target))];
  let ly = y0 + M.top + 6;
  for (const t of targets) {
    parts.push(`<rect x="${W - M.right + 16}" y="${ly}" width="14" height="10" fill="${TARGET_COLORS[t]}"/>`);
    parts.push(text(W - M.right + 36, ly + 10, t));
    ly += 18;
  }
  for (const [pc, label] of [["p50", "p50"], ["p99", "p99"], ["p999", "p99.9"]] as const) {
    const dash = DASH[pc] === "" ? "" : ` stroke-dasharray="${DASH[pc]}"`;
    parts.push(`<line x1="${W - M.right + 16}" x2="${W - M.right + 44}" y1="${ly + 5}" y2="${ly + 5}" stroke="#333" stroke-width="2"${dash}/>`);
    parts.push(text(W - M.right + 50, ly + 10, label));
    ly += 18;
  }
  return `<g>${parts.join("")}</g>`;
}

export function barPanel(groups: readonly BarGroup[], y0: number): string {
  const title = text(M.left, y0 + 24, "Maximum throughput (wrk, closed loop; median of rounds)", 'font-weight="bold"');
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => Number.isFinite(v));
  if (values.length === 0) return `<g>${title}${text(M.left, y0 + 80, "no throughput measurements")}</g>`;
  const ymax = niceMax(Math.max(...values));
  const pw = W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const Y = (v: number): number => y0 + M.top + ph - (v / ymax) * ph;
  const parts: string[] = [title];
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${fmt(Y(v))}" y2="${fmt(Y(v))}" stroke="#ddd"/>`);
    parts.push(text(M.left - 6, Y(v) + 4, `${Math.round(v)}`, 'text-anchor="end"'));
  }
  parts.push(`<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(text(18, y0 + M.top + ph / 2, "requests/s", `transform="rotate(-90 18 ${fmt(y0 + M.top + ph / 2)})" text-anchor="middle"`));
  const gw = pw / groups.length;
  groups.forEach((g, gi) => {
    const n = Math.max(1, g.bars.length);
    const bw = Math.min(28, (gw * 0.8) / n);
    const start = M.left + gi * gw + (gw - bw * n) / 2;
    g.bars.forEach((b, bi) => {
      if (!Number.isFinite(b.value)) return;
      const x = start + bi * bw;
      parts.push(
        `<rect x="${fmt(x)}" y="${fmt(Y(b.value))}" width="${fmt(bw - 2)}" height="${fmt(y0 + M.top + ph - Y(b.value))}" fill="${TARGET_COLORS[b.target]}"><title>${escapeXml(`${g.label} ${b.target}: ${Math.round(b.value)} rps`)}</title></rect>`,
      );
    });
    const cx = M.left + gi * gw + gw / 2;
    const lines = g.label.replace(/^throughput /, "").split(" ");
    lines.forEach((l, li) => parts.push(text(cx, y0 + M.top + ph + 14 + li * 11, l, 'text-anchor="middle" font-size="9"')));
  });
  const targets = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.target)))];
  targets.forEach((t, i) => {
    parts.push(`<rect x="${W - M.right + 16}" y="${y0 + M.top + 6 + i * 18}" width="14" height="10" fill="${TARGET_COLORS[t]}"/>`);
    parts.push(text(W - M.right + 36, y0 + M.top + 16 + i * 18, t));
  });
  return `<g>${parts.join("")}</g>`;
}

/** Latency series from the plain latency cells (no denied share, not loopback). */
export function latencySeries(results: readonly CellResult[]): Series[] {
  const cells = results.filter((r) => r.cell.kind === "latency" && r.cell.deniedShare === 0 && !r.cell.loopback && r.cell.ruleCount === 1);
  const out: Series[] = [];
  const targets = [...new Set(cells.flatMap((r) => r.cell.targets))];
  for (const target of targets) {
    for (const percentile of ["p50", "p99", "p999"] as const) {
      const points = cells
        .map((r) => ({ x: r.cell.rate ?? 0, y: r.summary[target]?.[percentile] ?? Number.NaN }))
        .filter((p) => Number.isFinite(p.y));
      if (points.length > 0) out.push({ target, percentile, points });
    }
  }
  return out;
}

export function throughputGroups(results: readonly CellResult[]): BarGroup[] {
  return results
    .filter((r) => r.cell.kind === "throughput")
    .map((r) => ({ label: r.cell.key, bars: r.cell.targets.map((t) => ({ target: t, value: r.summary[t]?.rps ?? Number.NaN })) }));
}

export function renderChart(results: readonly CellResult[], subtitle: string): string {
  const h = PANEL_H * 2 + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    text(M.left, 18, subtitle, 'fill="#555"'),
    latencyPanel(latencySeries(results), 20),
    barPanel(throughputGroups(results), PANEL_H + 30),
    "</svg>",
    "",
  ].join("\n");
}
