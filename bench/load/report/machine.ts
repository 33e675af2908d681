// The machine a run happened on, so results are never read without their context.

import { readFile } from "node:fs/promises";
import { cpus, release } from "node:os";
import { run } from "../../../src/netns/exec.js";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  kernel: string;
  node: string;
  haproxy: string;
  nginx: string;
  wrk: string;
  memTotalMb: number;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { allowFail: true }).catch(() => ({ stdout: "", stderr: "" }));
  return (r.stdout || r.stderr).split("\n")[0]?.trim() ?? "";
}

export async function machineInfo(): Promise<MachineInfo> {
  const meminfo = await readFile("/proc/meminfo", "utf8").catch(() => "");
  const mem = /^MemTotal:\s+(\d+)/m.exec(meminfo);
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    haproxy: await firstLine("haproxy", ["-v"]),
    nginx: await firstLine("nginx", ["-v"]),
    wrk: await firstLine("wrk", ["-v"]),
    memTotalMb: mem === null ? 0 : Math.round(Number(mem[1]) / 1024),
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memTotalMb} MB RAM; Linux ${m.kernel}; Node ${m.node}; ${m.haproxy}; ${m.nginx}; ${m.wrk}`;
}
