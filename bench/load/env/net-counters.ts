// Kernel TCP counters of the benchmark's namespaces (/proc/net/netstat is per network
// namespace: read by a process inside it): the evidence for tails that come from the
// network stack rather than the proxy. A full accept queue drops the SYN or the final ACK
// (ListenOverflows, ListenDrops) and the client retries only after its 1 s initial RTO
// (TCPSynRetrans), which shows as a p99 of about a second.

import { runIn } from "../../../src/netns/exec.js";

export const TCP_COUNTERS = ["ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPTimeouts", "TCPReqQFullDrop", "TCPBacklogDrop"] as const;
export type TcpCounter = (typeof TCP_COUNTERS)[number];
export type TcpCounters = Record<TcpCounter, number>;

/** TcpExt values from the text of /proc/net/netstat (a header line of names, then a line of values). */
export function parseNetstat(text: string): TcpCounters {
  const lines = text.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const out = Object.fromEntries(TCP_COUNTERS.map((c) => [c, 0])) as TcpCounters;
  if (lines.length < 2) return out;
  const names = (lines[0] as string).trim().split(/\s+/).slice(1);
  const values = (lines[1] as string).trim().split(/\s+/).slice(1).map(Number);
  for (const c of TCP_COUNTERS) {
    const i = names.indexOf(c);
    if (i >= 0 && Number.isFinite(values[i])) out[c] = values[i] as number;
  }
  return out;
}

/** The counters summed over the given namespaces. */
export async function readTcpCounters(namespaces: readonly string[]): Promise<TcpCounters> {
  const total = Object.fromEntries(TCP_COUNTERS.map((c) => [c, 0])) as TcpCounters;
  for (const ns of namespaces) {
    const r = await runIn(ns, "cat", ["/proc/net/netstat"], { allowFail: true });
    const one = parseNetstat(r.stdout);
    for (const c of TCP_COUNTERS) total[c] += one[c];
  }
  return total;
}

export function counterDelta(before: TcpCounters, after: TcpCounters): TcpCounters {
  return Object.fromEntries(TCP_COUNTERS.map((c) => [c, after[c] - before[c]])) as TcpCounters;
}
