// Maximum throughput with wrk (closed loop: every connection sends its next request as soon
// as the previous answer arrives). A Lua `done` hook prints wrk's own summary as one JSON
// line (latencies in microseconds), so nothing depends on wrk's human-readable output.
// With several paths a Lua `request` hook rotates through them; with one path wrk's fast
// path (no Lua per request) is kept.

export interface WrkSpec {
  url: string;
  paths: string[];
  connections: number;
  threads: number;
  durationSec: number;
  timeoutSec: number;
}

export interface WrkResult {
  requests: number;
  durationSec: number;
  rps: number;
  bytes: number;
  /** Non-2xx/3xx answers (the 403s of denied requests land here). */
  non2xx: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  /** Milliseconds. */
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
}

export const WRK_MARK = "WRKJSON ";

export function wrkScript(paths: readonly string[]): string {
  const lines: string[] = [];
  if (paths.length > 1) {
    lines.push(`local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }`);
    lines.push("local reqs = {}");
    lines.push("local n = 0");
    lines.push("init = function(args) for i, p in ipairs(paths) do reqs[i] = wrk.format(\"GET\", p) end end");
    lines.push("request = function() n = n + 1; return reqs[(n % #reqs) + 1] end");
  }
  lines.push(
    "done = function(summary, latency, requests)",
    "  local e = summary.errors",
    `  io.write(string.format("${WRK_MARK}{\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d,\\"status\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"timeout\\":%d,\\"p50\\":%d,\\"p90\\":%d,\\"p99\\":%d,\\"p999\\":%d,\\"max\\":%d,\\"mean\\":%f}\\n",`,
    "    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,",
    "    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))",
    "end",
  );
  return `${lines.join("\n")}\n`;
}

export function wrkArgs(spec: WrkSpec, scriptPath: string): string[] {
  return [
    "-t",
    String(Math.max(1, Math.min(spec.threads, spec.connections))),
    "-c",
    String(spec.connections),
    "-d",
    `${spec.durationSec}s`,
    "--timeout",
    `${spec.timeoutSec}s`,
    "-s",
    scriptPath,
    `${spec.url}${spec.paths[0] ?? "/"}`,
  ];
}

/** Extracts the JSON line the done hook wrote; throws with wrk's output when missing. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split("\n").find((l) => l.startsWith(WRK_MARK));
  if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout.slice(-2000)}`);
  const j = JSON.parse(line.slice(WRK_MARK.length)) as Record<string, number>;
  const us = (k: string): number => (j[k] ?? Number.NaN) / 1000;
  const durationSec = (j.duration_us ?? Number.NaN) / 1e6;
  const requests = j.requests ?? 0;
  return {
    requests,
    durationSec,
    rps: durationSec > 0 ? requests / durationSec : Number.NaN,
    bytes: j.bytes ?? 0,
    non2xx: j.status ?? 0,
    connectErrors: j.connect ?? 0,
    readErrors: j.read ?? 0,
    writeErrors: j.write ?? 0,
    timeouts: j.timeout ?? 0,
    latency: { p50: us("p50"), p90: us("p90"), p99: us("p99"), p999: us("p999"), max: us("max"), mean: us("mean") },
  };
}
