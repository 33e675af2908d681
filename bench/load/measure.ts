// One measurement: one target, one cell, one round. Warms the target up (unmeasured), then
// runs the load while sampling the target process tree's CPU time and peak RSS.

import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TargetAddress, TargetName } from "./env/bench-env.js";
import { bodyFile } from "./env/upstream-nginx.js";
import { counterDelta, readTcpCounters, type TcpCounters } from "./env/net-counters.js";
import { endCostWindow, startCostWindow } from "./env/proc-stats.js";
import type { LoadResult, LoadSpec } from "./loadgen/open-loop.js";
import { parseWrkOutput, wrkArgs, wrkScript, type WrkResult } from "./loadgen/wrk.js";
import type { Cell } from "./plan.js";
import { ALLOWED_PREFIX, DENIED_PREFIX } from "./policy-fixture.js";

export interface Run {
  target: TargetName;
  round: number;
  /** Completed requests per second. */
  rps: number;
  /** Milliseconds; for latency cells measured from the scheduled send time. */
  latency: { p50: number; p90: number; p99: number; p999: number; max: number };
  /** Latency cells: milliseconds from the actual write (no queueing before the send). */
  service: { p50: number; p99: number; p999: number } | null;
  /** Latency cells: the generator's own lateness, p99 (ms). */
  sendLagP99: number | null;
  /** Failed requests: socket errors, timeouts, unexpected statuses. */
  errors: number;
  /** 403 (or, from wrk, any non-2xx) answers. */
  denied: number;
  requests: number;
  cpuSeconds: number | null;
  wallSeconds: number;
  peakRssBytes: number | null;
  /** Share of the last 10 s in which some task waited for a CPU (PSI, %), at the run's end: how busy the shared machine was. */
  cpuPressure: number | null;
  /** Kernel TCP counters over the measured window, summed over the topology's namespaces (accept-queue overflows, SYN retransmits). */
  tcp: TcpCounters | null;
}

export interface MeasureContext {
  scratchDir: string;
  clientCpus: string | null;
  warmupSec: number;
  /** Warm up with wrk before a throughput measurement's first round (off in --quick, which warms each target once after start). */
  cellWarmup: boolean;
  durationSec: number;
  /** Network namespaces whose TCP counters are read around each run. */
  namespaces: readonly string[];
}

export function cellPaths(cell: Cell): string[] {
  const file = bodyFile(cell.bodySize);
  return cell.deniedShare > 0 ? [`${ALLOWED_PREFIX}${file}`, `${DENIED_PREFIX}${file}`] : [`${ALLOWED_PREFIX}${file}`];
}

export async function measure(target: TargetName, round: number, cell: Cell, addr: TargetAddress, ctx: MeasureContext): Promise<Run> {
  const before = await readTcpCounters(ctx.namespaces);
  const r = cell.kind === "throughput" ? await measureThroughput(target, round, cell, addr, ctx) : await measureLatency(target, round, cell, addr, ctx);
  const tcp = counterDelta(before, await readTcpCounters(ctx.namespaces));
  return { ...r, tcp, cpuPressure: parseCpuPressure(await readFile("/proc/pressure/cpu", "utf8").catch(() => "")) };
}

/** "some avg10=12.34 ..." from /proc/pressure/cpu; null when the kernel has no PSI. */
export function parseCpuPressure(text: string): number | null {
  const m = /^some avg10=([0-9.]+)/m.exec(text);
  return m === null ? null : Number(m[1]);
}

async function withCost<T>(pid: number | null, body: () => Promise<T>): Promise<{ value: T; cpuSeconds: number | null; peakRssBytes: number | null; wallSeconds: number }> {
  const start = pid === null ? 0 : await startCostWindow(pid);
  const t0 = process.hrtime.bigint();
  const value = await body();
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (pid === null) return { value, cpuSeconds: null, peakRssBytes: null, wallSeconds };
  const cost = await endCostWindow(pid, start);
  return { value, cpuSeconds: cost.cpuSeconds, peakRssBytes: Number.isFinite(cost.peakRssBytes) ? cost.peakRssBytes : null, wallSeconds };
}

async function measureThroughput(target: TargetName, round: number, cell: Cell, addr: TargetAddress, ctx: MeasureContext): Promise<Omit<Run, "cpuPressure" | "tcp">> {
  const paths = cellPaths(cell);
  const script = join(ctx.scratchDir, `wrk-${paths.length}-${cell.bodySize}.lua`);
  await writeFile(script, wrkScript(paths));
  const spec = (durationSec: number) => ({
    url: `http://${addr.host}:${addr.port}`,
    paths,
    connections: cell.connections,
    threads: ctx.clientCpus === null ? 2 : 1,
    durationSec,
    timeoutSec: 5,
  });
  // wrk counts whole seconds. The processes stay up between rounds, so once warm (JIT,
  // allocator, caches) they stay warm: only the first round pays for a warm-up.
  if (ctx.cellWarmup && ctx.warmupSec > 0 && round === 0) await runClient(addr.netns, ctx.clientCpus, ["wrk", ...wrkArgs(spec(Math.max(1, Math.round(ctx.warmupSec))), script)]);
  const r = await withCost(addr.pid, async () => parseWrkOutput(await runClient(addr.netns, ctx.clientCpus, ["wrk", ...wrkArgs(spec(Math.max(1, Math.round(ctx.durationSec))), script)])));
  const w: WrkResult = r.value;
  return {
    target,
    round,
    rps: w.rps,
    latency: w.latency,
    service: null,
    sendLagP99: null,
    errors: w.connectErrors + w.readErrors + w.writeErrors + w.timeouts,
    denied: w.non2xx,
    requests: w.requests,
    cpuSeconds: r.cpuSeconds,
    wallSeconds: r.wallSeconds,
    peakRssBytes: r.peakRssBytes,
  };
}

async function measureLatency(target: TargetName, round: number, cell: Cell, addr: TargetAddress, ctx: MeasureContext): Promise<Omit<Run, "cpuPressure" | "tcp">> {
  const spec: LoadSpec = {
    host: addr.host,
    port: addr.port,
    rate: cell.rate ?? 1000,
    warmupMs: ctx.warmupSec * 1000,
    durationMs: ctx.durationSec * 1000,
    connections: cell.connections,
    paths: cellPaths(cell),
    hostHeader: `${addr.host}:${addr.port}`,
    drainMs: 3000,
  };
  const loadgen = fileURLToPath(new URL("./loadgen/open-loop.js", import.meta.url));
  const r = await withCost(addr.pid, async () => {
    const out = await runClient(addr.netns, ctx.clientCpus, [process.execPath, loadgen, JSON.stringify(spec)]);
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as LoadResult;
  });
  const l = r.value;
  return {
    target,
    round,
    rps: l.achievedRate,
    latency: l.latency,
    service: { p50: l.service.p50, p99: l.service.p99, p999: l.service.p999 },
    sendLagP99: l.sendLag.p99,
    errors: l.socketErrors + l.timeouts + l.statusOther,
    denied: l.status403,
    requests: l.completed,
    cpuSeconds: r.cpuSeconds,
    // The cost window includes the warmup the generator runs inside the same process.
    wallSeconds: r.wallSeconds,
    peakRssBytes: r.peakRssBytes,
  };
}

function runClient(netns: string, cpus: string | null, argv: string[]): Promise<string> {
  const full = ["netns", "exec", netns, "prlimit", "--nofile=16384:", "--", ...(cpus === null ? [] : ["taskset", "-c", cpus]), ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn("ip", full, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${argv[0]} in ${netns} failed (${code}): ${(err || out).slice(-2000)}`));
    });
  });
}

/** One second of wrk at a target just started, so its first measurement is not a cold start. */
export async function warmUp(addr: TargetAddress, ctx: MeasureContext): Promise<void> {
  const script = join(ctx.scratchDir, "wrk-warmup.lua");
  await writeFile(script, wrkScript([`${ALLOWED_PREFIX}${bodyFile(0)}`]));
  const spec = { url: `http://${addr.host}:${addr.port}`, paths: [`${ALLOWED_PREFIX}${bodyFile(0)}`], connections: 64, threads: 1, durationSec: 1, timeoutSec: 5 };
  await runClient(addr.netns, ctx.clientCpus, ["wrk", ...wrkArgs(spec, script)]);
}
