import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, test } from "vitest";
import { cpuBudget, parseCpuMax, parseProcCgroup } from "../../../src/config/cpu-budget.js";
import { parseRunConfig } from "../../../src/config/run-config.js";

/** A fake filesystem root holding the given files. */
function fsRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "l7p-cpu-"));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  return root;
}

describe("CPU budget for --workers auto", () => {
  test("cpu.max: a quota, or max for none", () => {
    expect(parseCpuMax("max 100000\n")).toBeNull();
    expect(parseCpuMax("200000 100000\n")).toBe(2);
    expect(parseCpuMax("150000 100000")).toBe(1.5);
    expect(parseCpuMax("garbage")).toBeNull();
  });

  test("/proc/self/cgroup: the v2 path and the v1 controllers' paths", () => {
    const c = parseProcCgroup("12:cpu,cpuacct:/kubepods/pod1/c1\n0::/kubepods.slice/pod.slice/cri.scope\n");
    expect(c.v2).toBe("/kubepods.slice/pod.slice/cri.scope");
    expect(c.v1.get("cpu")).toBe("/kubepods/pod1/c1");
  });

  test("no quota: one worker per CPU the affinity allows", () => {
    const root = fsRoot({ "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n" });
    expect(cpuBudget({ root, affinity: 8 })).toEqual({ cpus: 8, affinity: 8, quota: null });
  });

  test("a cgroup v2 quota below the affinity wins, rounded down", () => {
    const root = fsRoot({ "proc/self/cgroup": "0::/pod/c\n", "sys/fs/cgroup/pod/c/cpu.max": "250000 100000\n" });
    expect(cpuBudget({ root, affinity: 16 })).toEqual({ cpus: 2, affinity: 16, quota: 2.5 });
  });

  test("the tightest quota on the path up the hierarchy applies (a pod limit above the container)", () => {
    const root = fsRoot({
      "proc/self/cgroup": "0::/kubepods/pod/ctr\n",
      "sys/fs/cgroup/kubepods/cpu.max": "max 100000\n",
      "sys/fs/cgroup/kubepods/pod/cpu.max": "300000 100000\n",
      "sys/fs/cgroup/kubepods/pod/ctr/cpu.max": "max 100000\n",
    });
    expect(cpuBudget({ root, affinity: 64 }).cpus).toBe(3);
  });

  test("a quota under one CPU still gives one worker", () => {
    const root = fsRoot({ "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "50000 100000\n" });
    expect(cpuBudget({ root, affinity: 4 }).cpus).toBe(1);
  });

  test("the affinity wins when it is the smaller (taskset, cpuset)", () => {
    const root = fsRoot({ "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "800000 100000\n" });
    expect(cpuBudget({ root, affinity: 2 }).cpus).toBe(2);
  });

  test("cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us, -1 for none", () => {
    const limited = fsRoot({
      "proc/self/cgroup": "4:cpu,cpuacct:/kubepods/pod\n",
      "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
      "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
      "sys/fs/cgroup/cpu,cpuacct/kubepods/pod/cpu.cfs_quota_us": "400000\n",
      "sys/fs/cgroup/cpu,cpuacct/kubepods/pod/cpu.cfs_period_us": "100000\n",
    });
    expect(cpuBudget({ root: limited, affinity: 32 })).toEqual({ cpus: 4, affinity: 32, quota: 4 });
    const unlimited = fsRoot({
      "proc/self/cgroup": "4:cpu,cpuacct:/\n",
      "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
      "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    });
    expect(cpuBudget({ root: unlimited, affinity: 6 }).cpus).toBe(6);
  });

  test("nothing readable: the affinity alone", () => {
    expect(cpuBudget({ root: fsRoot({}), affinity: 3 })).toEqual({ cpus: 3, affinity: 3, quota: null });
  });

  test("--workers auto is resolved by the configuration, a number is kept, junk is refused", () => {
    expect(parseRunConfig(["--workers", "auto"], {}, () => 6).workers).toBe(6);
    expect(parseRunConfig(["--workers", "3"], {}, () => 6).workers).toBe(3);
    expect(parseRunConfig([], {}, () => 6).workers).toBe(1);
    expect(() => parseRunConfig(["--workers", "many"], {}, () => 6)).toThrow(/workers: expected a non-negative integer or auto/);
    expect(() => parseRunConfig(["--workers", "0"], {}, () => 6)).toThrow(/at least 1/);
  });
});
