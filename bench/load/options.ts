// Command-line options of `npm run bench`: one table owns every option's default (full and
// --quick), its parser and its --help line.

import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { TARGETS, type TargetName } from "./env/bench-env.js";

export const SCENARIOS = ["throughput", "latency", "rules", "connections", "body", "denied", "loopback", "telemetry", "scaling"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const SCENARIO_HELP: Record<ScenarioName, string> = {
  throughput: "maximum requests/s (wrk, closed loop) with L7 rules, every request allowed",
  latency: "p50/p90/p99/p99.9/max at fixed offered rates (open loop, coordinated-omission corrected)",
  rules: "throughput with 1, 100 and 10,000 HTTP rules on the port",
  connections: "throughput with 1, 64 and 1,000 concurrent connections",
  body: "throughput with 0 B, 1 KiB and 64 KiB response bodies",
  denied: "half the requests denied (403 from the proxy): throughput, and latency at 3,000 rps",
  loopback: "client -> proxy -> upstream on loopback, no TPROXY: the proxy's own cost",
  telemetry: "l7proxy throughput with metrics and flow records against --no-telemetry (TPROXY and loopback)",
  scaling: "throughput of l7proxy --workers N and HAProxy nbthread N against 1 process / 1 thread (unpinned)",
};

export interface BenchOptions {
  scenarios: ScenarioName[];
  targets: TargetName[];
  durationSec: number;
  warmupSec: number;
  rounds: number;
  /** Rounds of the telemetry scenario: a few percent must be told from a noisy machine's drift. */
  telemetryRounds: number;
  rates: number[];
  connections: number[];
  /** Connections of the latency scenario's pool (open loop). */
  latencyConnections: number;
  bodySizes: number[];
  ruleCounts: number[];
  quick: boolean;
  json: string | null;
  outDir: string;
  updateResults: boolean;
  pin: boolean;
  /** N of the scaling scenario's multi-core targets. */
  scaleN: number;
  /** Node.js flags for the l7proxy targets (diagnosis: --trace-gc, --cpu-prof, --max-semi-space-size=N). */
  l7proxyNodeArgs: string[];
  help: boolean;
}

interface Preset {
  durationSec: number;
  warmupSec: number;
  rounds: number;
  telemetryRounds: number;
  rates: number[];
  connections: number[];
  bodySizes: number[];
  ruleCounts: number[];
}

export const FULL: Preset = {
  durationSec: 10,
  warmupSec: 2,
  rounds: 3,
  telemetryRounds: 10,
  rates: [1000, 3000, 10000, 30000],
  connections: [1, 64, 1000],
  bodySizes: [0, 1024, 65536],
  ruleCounts: [1, 100, 10000],
};

// About four minutes on 2 cores: short runs, two rounds, and only the extreme values
// (the defaults 1 rule, 64 connections, 0 B are measured by the throughput scenario).
export const QUICK: Preset = {
  durationSec: 2,
  warmupSec: 0.3,
  rounds: 2,
  telemetryRounds: 4,
  rates: [1000, 3000, 10000, 30000],
  connections: [64, 1000],
  bodySizes: [0, 65536],
  ruleCounts: [1, 10000],
};

/**
 * Every scenario, but --quick leaves out `telemetry` unless asked for: its 2-second runs on a
 * shared machine spread far wider than the 5% the scenario has to resolve.
 */
function defaultScenarios(quick: boolean): ScenarioName[] {
  return quick ? SCENARIOS.filter((s) => s !== "telemetry") : [...SCENARIOS];
}

const numbers = (flag: string, text: string): number[] => {
  const out = text.split(",").map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isFinite(n) || n < 0)) throw new Error(`--${flag}: expected comma-separated numbers, got '${text}'`);
  return out;
};

const oneOf = <T extends string>(flag: string, text: string, allowed: readonly T[]): T[] => {
  const out = text.split(",").map((s) => s.trim());
  for (const v of out) if (!allowed.includes(v as T)) throw new Error(`--${flag}: '${v}' is not one of ${allowed.join(", ")}`);
  return out as T[];
};

export function helpText(): string {
  const f = FULL;
  const q = QUICK;
  return `Usage: npm run bench -- [options]          (needs root: it builds network namespaces)

Benchmarks l7proxy against no proxy ("direct") and HAProxy (1 thread, ACLs generated from
the same policy file), side by side on one network-namespace topology, in interleaved rounds.

Scenarios (--scenarios, default all; --quick leaves out telemetry unless it is named):
${SCENARIOS.map((s) => `  ${s.padEnd(12)} ${SCENARIO_HELP[s]}`).join("\n")}

Targets (--targets, default all): ${TARGETS.join(", ")}
  direct      client -> upstream through the node namespace, no interception rules
  l7proxy     TPROXY -> l7proxy run (L7 HTTP rules on the port) -> upstream
  haproxy     TPROXY -> haproxy (bind transparent, server 0.0.0.0:0) -> upstream
  *-lo        the same on loopback, no TPROXY (l7proxy-lo needs 'l7proxy run --upstream')
  l7proxy[-lo]-notel  l7proxy with --no-telemetry (telemetry scenario only)
  l7proxy-workers     l7proxy --workers N; haproxy-threads: HAProxy nbthread N (scaling scenario only,
                      not pinned: N cores are shared with the load generator and nginx)
  l7proxy[-lo]-info   l7proxy at --log-level info, flow records also written to stderr
                      (telemetry scenario only); plain l7proxy runs at --log-level warn
                      (metrics and the /flows ring, no flow-record log lines)

Options:
  --quick                 short preset, about 4 minutes (duration ${q.durationSec}s, ${q.rounds} rounds, extremes only)
  --duration SEC          measured seconds per run (default ${f.durationSec}; quick ${q.durationSec})
  --warmup SEC            unmeasured load before a measurement's first round (wrk, whole seconds)
                          and inside every open-loop run (default ${f.warmupSec}; quick ${q.warmupSec})
  --rounds N              interleaved rounds per measurement; medians are reported (default ${f.rounds}; quick ${q.rounds})
  --telemetry-rounds N    rounds of the telemetry scenario, each with freshly started proxies
                          (default ${f.telemetryRounds}; quick ${q.telemetryRounds})
  --rates LIST            offered rates of the latency scenario, rps (default ${f.rates.join(",")})
  --connections LIST      connection counts of the connections scenario (default ${f.connections.join(",")}; quick ${q.connections.join(",")})
  --latency-connections N keep-alive connections of the open-loop generator (default 64)
  --body-sizes LIST       response body sizes in bytes: 0, 1024, 65536 (default ${f.bodySizes.join(",")}; quick ${q.bodySizes.join(",")})
  --rules LIST            HTTP rule counts of the rules scenario (default ${f.ruleCounts.join(",")}; quick ${q.ruleCounts.join(",")});
                          0: no L7 rules on the port (l7proxy relays bytes: its bare relay cost)
  --scenarios LIST        scenarios to run (comma-separated)
  --targets LIST          targets to run (comma-separated)
  --json FILE             also write the results as JSON to FILE (default OUT/results.json)
  --out DIR               directory for results.json and results.svg (default bench/out)
  --no-update-results     do not rewrite bench/RESULTS.md and bench/results.svg
  --scale-n N             N of the scaling targets (default: CPUs this process may use, here ${availableParallelism()})
  --l7proxy-node-args=ARGS Node.js flags for the l7proxy targets, space-separated (e.g.
                          --l7proxy-node-args="--trace-gc"); their stderr and profiles go to OUT
  --no-pin                do not pin the proxy to CPU 1 and the client/upstream to CPU 0
  --help                  this text
`;
}

export function parseOptions(argv: string[], defaultOut: string): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      "telemetry-rounds": { type: "string" },
      rates: { type: "string" },
      connections: { type: "string" },
      "latency-connections": { type: "string" },
      "body-sizes": { type: "string" },
      rules: { type: "string" },
      scenarios: { type: "string" },
      targets: { type: "string" },
      json: { type: "string" },
      out: { type: "string" },
      "no-update-results": { type: "boolean" },
      "no-pin": { type: "boolean" },
      "l7proxy-node-args": { type: "string" },
      "scale-n": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const quick = values.quick === true;
  const p = quick ? QUICK : FULL;
  const single = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${flag}: expected a number >= ${min}, got '${v}'`);
    return n;
  };
  const opts: BenchOptions = {
    quick,
    scenarios: values.scenarios === undefined ? defaultScenarios(quick) : oneOf("scenarios", values.scenarios, SCENARIOS),
    targets: values.targets === undefined ? [...TARGETS] : oneOf("targets", values.targets, TARGETS),
    durationSec: single("duration", values.duration, p.durationSec, 0.1),
    warmupSec: single("warmup", values.warmup, p.warmupSec, 0),
    rounds: Math.round(single("rounds", values.rounds, p.rounds, 1)),
    telemetryRounds: Math.round(single("telemetry-rounds", values["telemetry-rounds"], p.telemetryRounds, 1)),
    rates: values.rates === undefined ? p.rates : numbers("rates", values.rates),
    connections: values.connections === undefined ? p.connections : numbers("connections", values.connections),
    latencyConnections: Math.round(single("latency-connections", values["latency-connections"], 64, 1)),
    bodySizes: values["body-sizes"] === undefined ? p.bodySizes : numbers("body-sizes", values["body-sizes"]),
    ruleCounts: values.rules === undefined ? p.ruleCounts : numbers("rules", values.rules),
    json: values.json ?? null,
    outDir: values.out ?? defaultOut,
    updateResults: values["no-update-results"] !== true,
    pin: values["no-pin"] !== true,
    scaleN: Math.round(single("scale-n", values["scale-n"], availableParallelism(), 1)),
    l7proxyNodeArgs: (values["l7proxy-node-args"] ?? "").split(/\s+/).filter((a) => a !== ""),
    help: values.help === true,
  };
  for (const b of opts.bodySizes) if (![0, 1024, 65536].includes(b)) throw new Error(`--body-sizes: ${b} is not one of 0, 1024, 65536`);
  for (const r of opts.ruleCounts) if (!Number.isInteger(r) || r < 0) throw new Error(`--rules: ${r} is not a non-negative integer`);
  for (const r of opts.rates) if (r <= 0) throw new Error(`--rates: ${r} must be positive`);
  return opts;
}
