// What to measure: the scenarios the options ask for, expanded into cells (one measured
// configuration each), de-duplicated (the default configuration is shared by several
// scenarios), and ordered by rule count so the proxies restart only when the policy changes.

import { isLoopback, isScaling, telemetryVariant, type TargetName } from "./env/bench-env.js";
import type { BenchOptions, ScenarioName } from "./options.js";

export interface Cell {
  key: string;
  scenarios: ScenarioName[];
  kind: "throughput" | "latency";
  ruleCount: number;
  connections: number;
  bodySize: number;
  /** Share of requests sent to a denied path (0 or 0.5). */
  deniedShare: number;
  /** Offered rps (latency cells), null for throughput. */
  rate: number | null;
  loopback: boolean;
  /** Compares l7proxy with its telemetry variants (l7proxy-notel, l7proxy-info) only. */
  telemetry: boolean;
  /** Adds the multi-core targets (l7proxy --workers N, HAProxy nbthread N) to the 1-process ones. */
  scaling: boolean;
  targets: TargetName[];
}

const DEFAULTS = { connections: 64, bodySize: 0, ruleCount: 1, deniedShare: 0, telemetry: false, scaling: false };
const DENIED_LATENCY_RATE = 3000;

export function cellKey(c: Omit<Cell, "key" | "scenarios" | "targets">): string {
  const parts = [
    c.kind === "latency" ? `latency@${c.rate}rps` : "throughput",
    `c=${c.connections}`,
    `body=${c.bodySize}`,
    `rules=${c.ruleCount}`,
  ];
  if (c.deniedShare > 0) parts.push(`denied=${Math.round(c.deniedShare * 100)}%`);
  if (c.loopback) parts.push("loopback");
  if (c.telemetry) parts.push("telemetry on/off");
  if (c.scaling) parts.push("scaling");
  return parts.join(" ");
}

export function planCells(o: BenchOptions): Cell[] {
  const cells = new Map<string, Cell>();
  const add = (scenario: ScenarioName, spec: Partial<Omit<Cell, "key" | "scenarios" | "targets">> & Pick<Cell, "kind">): void => {
    const loopback = spec.loopback ?? false;
    const telemetry = spec.telemetry ?? false;
    const scaling = spec.scaling ?? false;
    // The telemetry variants of l7proxy are measured against plain l7proxy and nothing else;
    // the multi-core targets only in the scaling cell, beside the 1-process ones.
    const targets = o.targets.filter(
      (t) => isLoopback(t) === loopback && (telemetry ? t.startsWith("l7proxy") : telemetryVariant(t) === null) && (scaling || !isScaling(t)),
    );
    if (scaling && !targets.some(isScaling)) return;
    if (telemetry && !targets.some((t) => telemetryVariant(t) !== null)) return;
    if (targets.length === 0) return;
    const base = {
      ...DEFAULTS,
      rate: null,
      loopback,
      ...spec,
      connections: spec.kind === "latency" ? o.latencyConnections : (spec.connections ?? DEFAULTS.connections),
    };
    const key = cellKey(base);
    const existing = cells.get(key);
    if (existing !== undefined) {
      if (!existing.scenarios.includes(scenario)) existing.scenarios.push(scenario);
      return;
    }
    cells.set(key, { ...base, key, scenarios: [scenario], targets });
  };
  for (const s of o.scenarios) {
    switch (s) {
      case "throughput":
        add(s, { kind: "throughput" });
        break;
      case "latency":
        for (const rate of o.rates) add(s, { kind: "latency", rate });
        break;
      case "rules":
        for (const ruleCount of o.ruleCounts) add(s, { kind: "throughput", ruleCount });
        break;
      case "connections":
        for (const connections of o.connections) add(s, { kind: "throughput", connections });
        break;
      case "body":
        for (const bodySize of o.bodySizes) add(s, { kind: "throughput", bodySize });
        break;
      case "denied":
        add(s, { kind: "throughput", deniedShare: 0.5 });
        add(s, { kind: "latency", rate: DENIED_LATENCY_RATE, deniedShare: 0.5 });
        break;
      case "telemetry":
        add(s, { kind: "throughput", telemetry: true });
        add(s, { kind: "throughput", telemetry: true, loopback: true });
        break;
      case "scaling":
        add(s, { kind: "throughput", scaling: true });
        break;
      case "loopback":
        add(s, { kind: "throughput", loopback: true });
        add(s, { kind: "latency", rate: DENIED_LATENCY_RATE, loopback: true });
        break;
    }
  }
  return [...cells.values()].sort((a, b) => a.ruleCount - b.ruleCount);
}

/** The targets some cell measures: the proxies worth starting. */
export function plannedTargets(cells: readonly Cell[], o: BenchOptions): TargetName[] {
  const used = new Set(cells.flatMap((c) => c.targets));
  return o.targets.filter((t) => used.has(t));
}

/** Seconds the plan takes, roughly: runs plus warmups plus per-run overhead. */
/** Rounds of a measurement: the telemetry scenario has its own count (see --telemetry-rounds). */
export function roundsOf(cell: Cell, o: BenchOptions): number {
  return cell.telemetry ? o.telemetryRounds : o.rounds;
}

/**
 * The targets of one round, rotated by the round number: no target always runs first (just
 * after a restart or a long idle) or always right after the same other target.
 */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  const k = targets.length === 0 ? 0 : round % targets.length;
  return [...targets.slice(k), ...targets.slice(0, k)];
}

export function estimateSeconds(cells: readonly Cell[], o: BenchOptions): number {
  const runs = cells.reduce((n, c) => n + c.targets.length * roundsOf(c, o), 0);
  // Each telemetry round restarts and warms up its proxies (about 2 s each).
  const telemetryRestarts = cells.reduce((n, c) => n + (c.telemetry ? c.targets.length * o.telemetryRounds : 0), 0);
  const restarts = new Set(cells.map((c) => c.ruleCount)).size;
  const warmups = o.quick ? 0 : cells.reduce((n, c) => n + c.targets.length * (c.kind === "throughput" ? 1 : 0), 0);
  const openLoop = cells.reduce((n, c) => n + (c.kind === "latency" ? c.targets.length * o.rounds : 0), 0);
  return runs * (Math.max(1, Math.round(o.durationSec)) + 0.7) + openLoop * o.warmupSec + warmups * Math.max(1, Math.round(o.warmupSec)) + restarts * 8 + telemetryRestarts * 2 + 10;
}
