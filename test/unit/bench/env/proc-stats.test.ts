import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { endCostWindow, parseProcStat, parseVmHwm, processTree, startCostWindow } from "../../../../bench/load/env/proc-stats.js";

describe("parseProcStat", () => {
  test("reads ppid and utime+stime past a command name with spaces and parentheses", () => {
    const line = "4242 (my (odd) proc) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 12345 1000 100 18446744073709551615\n";
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 17, cpuTicks: 287 });
  });
  test("rejects text that is not a stat line", () => {
    expect(() => parseProcStat("garbage")).toThrow();
  });
});

describe("parseVmHwm", () => {
  test("kB to bytes; absent is NaN", () => {
    expect(parseVmHwm("Name:\tnode\nVmHWM:\t  51200 kB\nVmRSS:\t 40000 kB\n")).toBe(51200 * 1024);
    expect(parseVmHwm("Name:\tzombie\n")).toBeNaN();
  });
});

describe("process tree cost", () => {
  test("includes children, and a busy child's CPU time shows up", async () => {
    const child = spawn(process.execPath, ["-e", "const end = Date.now() + 400; while (Date.now() < end); setTimeout(() => {}, 5000)"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const tree = await processTree(process.pid);
      expect(tree.map((p) => p.pid)).toContain(child.pid);
      const start = await startCostWindow(process.pid);
      await new Promise((r) => setTimeout(r, 600));
      const cost = await endCostWindow(process.pid, start);
      expect(cost.cpuSeconds).toBeGreaterThan(0.1);
      expect(cost.peakRssBytes).toBeGreaterThan(1024 * 1024);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
