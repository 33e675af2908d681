// CPU time and peak memory of a process tree, from /proc: what a proxy costs while it serves.
// CPU is utime+stime (fields 14 and 15 of /proc/PID/stat, in clock ticks); peak RSS is
// VmHWM from /proc/PID/status, which `echo 5 > /proc/PID/clear_refs` resets, so each
// measurement gets its own peak without restarting the process.

import { readdir, readFile, writeFile } from "node:fs/promises";

/** Clock ticks per second; USER_HZ is 100 on every Linux architecture Node runs on. */
export const CLOCK_TICKS = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error(`not a /proc/PID/stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, text.indexOf(" ")));
  // Fields after the name start at field 3 (state).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  const out = { pid, ppid: field(4), cpuTicks: field(14) + field(15) };
  if (!Number.isFinite(out.ppid) || !Number.isFinite(out.cpuTicks)) throw new Error(`malformed /proc/PID/stat: ${text.slice(0, 80)}`);
  return out;
}

/** VmHWM in bytes from /proc/PID/status; NaN when absent (a zombie has none). */
export function parseVmHwm(statusText: string): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(statusText);
  return m === null ? Number.NaN : Number(m[1]) * 1024;
}

async function allStats(): Promise<ProcStat[]> {
  const out: ProcStat[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseProcStat(await readFile(`/proc/${name}/stat`, "utf8")));
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

/** The pid and all its descendants (worker processes count towards the proxy's cost). */
export async function processTree(pid: number): Promise<ProcStat[]> {
  const stats = await allStats();
  const byParent = new Map<number, ProcStat[]>();
  for (const s of stats) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  const root = stats.find((s) => s.pid === pid);
  if (root === undefined) return [];
  const tree: ProcStat[] = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(byParent.get((tree[i] as ProcStat).pid) ?? []));
  return tree;
}

export interface CostSample {
  cpuSeconds: number;
  /** Largest VmHWM among the tree's processes (bytes); NaN when unknown. */
  peakRssBytes: number;
}

/** Resets the peak RSS of the tree; starts a measurement window. Returns the CPU so far. */
export async function startCostWindow(pid: number): Promise<number> {
  const tree = await processTree(pid);
  for (const p of tree) await writeFile(`/proc/${p.pid}/clear_refs`, "5").catch(() => undefined);
  return tree.reduce((a, p) => a + p.cpuTicks, 0);
}

export async function endCostWindow(pid: number, startTicks: number): Promise<CostSample> {
  const tree = await processTree(pid);
  let peak = Number.NaN;
  for (const p of tree) {
    const hwm = parseVmHwm(await readFile(`/proc/${p.pid}/status`, "utf8").catch(() => ""));
    if (Number.isFinite(hwm) && !(hwm <= peak)) peak = hwm;
  }
  const ticks = tree.reduce((a, p) => a + p.cpuTicks, 0);
  return { cpuSeconds: (ticks - startTicks) / CLOCK_TICKS, peakRssBytes: peak };
}
