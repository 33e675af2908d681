// How many CPUs this process may really use, for `--workers auto`: the smaller of its CPU
// affinity (os.availableParallelism() honours sched_setaffinity and cpusets) and its cgroup
// CPU quota. A container limited to 2 CPUs on a 64-core node sees 64 cores but gets 2 CPUs of
// time per period; 64 workers there would spend the quota in bursts and be throttled for
// the rest of each period, which is a tail-latency disaster for a data path.
//
// The quota is the tightest `cpu.max` (cgroup v2) on the path from this process's cgroup up
// to the hierarchy's root, or `cpu.cfs_quota_us`/`cpu.cfs_period_us` (cgroup v1). Files are
// read under an injectable root, so tests can lay out a fake /proc and /sys.

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";

export interface CpuBudgetSources {
  /** Prefix for /proc and /sys (tests); "/" in production. */
  root?: string;
  /** CPUs the scheduler lets this process run on; os.availableParallelism() by default. */
  affinity?: number;
}

export interface CpuBudget {
  /** Whole CPUs: min(affinity, floor(quota)), at least 1. */
  cpus: number;
  affinity: number;
  /** quota/period in CPUs, or null when unlimited (or no cgroup CPU controller is visible). */
  quota: number | null;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** "max 100000" or "150000 100000" (cgroup v2 cpu.max) as CPUs; null for no limit. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return null;
  const q = Number(quota);
  const p = Number(period ?? "100000");
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return null;
  return q / p;
}

/** The cgroup paths of /proc/self/cgroup: the v2 path ("0::/x") and v1 paths by controller. */
export function parseProcCgroup(text: string): { v2: string | null; v1: Map<string, string> } {
  let v2: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m === null) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3]!;
    else for (const c of m[2]!.split(",")) v1.set(c, m[3]!);
  }
  return { v2, v1 };
}

/** Directories from `leaf` up to `mount` (inclusive): a limit anywhere above applies too. */
function ancestors(mount: string, cgroupPath: string): string[] {
  const out: string[] = [];
  let rel = path.posix.normalize(`/${cgroupPath}`);
  for (;;) {
    out.push(path.join(mount, rel));
    if (rel === "/") return out;
    rel = path.posix.dirname(rel);
  }
}

function tightest(limits: Array<number | null>): number | null {
  const set = limits.filter((x): x is number => x !== null);
  return set.length === 0 ? null : Math.min(...set);
}

function v2Quota(root: string, cgroupPath: string): number | null {
  const mount = path.join(root, "sys/fs/cgroup");
  return tightest(ancestors(mount, cgroupPath).map((dir) => {
    const text = readText(path.join(dir, "cpu.max"));
    return text === null ? null : parseCpuMax(text);
  }));
}

function v1Quota(root: string, cgroupPath: string): number | null {
  // The controller's mount is named after its co-mounted controllers on most distributions.
  for (const name of ["cpu,cpuacct", "cpu", "cpuacct,cpu"]) {
    const mount = path.join(root, "sys/fs/cgroup", name);
    if (readText(path.join(mount, "cpu.cfs_period_us")) === null && readText(path.join(mount, path.posix.normalize(`/${cgroupPath}`), "cpu.cfs_period_us")) === null) continue;
    return tightest(ancestors(mount, cgroupPath).map((dir) => {
      const quota = Number(readText(path.join(dir, "cpu.cfs_quota_us"))?.trim());
      const period = Number(readText(path.join(dir, "cpu.cfs_period_us"))?.trim());
      return Number.isFinite(quota) && Number.isFinite(period) && quota > 0 && period > 0 ? quota / period : null;
    }));
  }
  return null;
}

export function cpuBudget(sources: CpuBudgetSources = {}): CpuBudget {
  const root = sources.root ?? "/";
  const affinity = Math.max(1, sources.affinity ?? availableParallelism());
  const cgroups = parseProcCgroup(readText(path.join(root, "proc/self/cgroup")) ?? "");
  let quota: number | null = null;
  if (cgroups.v2 !== null) quota = v2Quota(root, cgroups.v2);
  const v1Path = cgroups.v1.get("cpu");
  if (quota === null && v1Path !== undefined) quota = v1Quota(root, v1Path);
  // A fractional quota rounds down: 1.5 CPUs give one worker that is never throttled
  // rather than two that are throttled a quarter of each period.
  const cpus = Math.max(1, Math.min(affinity, quota === null ? affinity : Math.floor(quota)));
  return { cpus, affinity, quota };
}
