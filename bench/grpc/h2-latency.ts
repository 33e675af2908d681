// Open-loop HTTP/2 load at a fixed rate, for latency: requests are sent on schedule whatever
// the answers do (no coordinated omission: each latency counts from the request's scheduled
// time), spread over C connections, with node:http2's core client. Prints one JSON line.
//   node h2-latency.js URL RPS SECONDS CONNECTIONS grpc|get

import { connect, type ClientHttp2Session } from "node:http2";
import { performance } from "node:perf_hooks";

const [url, rpsText, secondsText, connText, kind] = process.argv.slice(2);
const rps = Number(rpsText);
const seconds = Number(secondsText);
const conns = Number(connText ?? 10);
const grpc = kind === "grpc";
// A 4-byte gRPC message (5-byte length prefix), as h2load sends it in the throughput runs.
const GRPC_BODY = Buffer.from([0, 0, 0, 0, 4, 1, 2, 3, 4]);
const path = grpc ? "/l7test.Echo/Unary" : "/public/bench";

const sessions: ClientHttp2Session[] = [];
for (let i = 0; i < conns; i++) {
  const s = connect(url!);
  s.on("error", () => {});
  sessions.push(s);
}
await Promise.all(
  sessions.map(
    (s) =>
      new Promise<void>((resolve, reject) => {
        s.once("connect", () => resolve());
        s.once("error", (e) => reject(e));
      }),
  ),
);

const latencies: number[] = [];
let failed = 0;
let sent = 0;
const start = performance.now();
const total = Math.round(rps * seconds);

function send(scheduled: number): void {
  const s = sessions[sent % conns]!;
  sent++;
  const req = grpc
    ? s.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" })
    : s.request({ ":method": "GET", ":path": path }, { endStream: true });
  let ok = false;
  req.on("response", (h) => (ok = h[":status"] === 200));
  if (grpc) req.on("trailers", (t) => (ok = ok && t["grpc-status"] === "0"));
  req.on("data", () => {});
  req.on("error", () => {});
  req.on("close", () => {
    if (ok) latencies.push(performance.now() - scheduled);
    else failed++;
  });
  if (grpc) req.end(GRPC_BODY);
}

await new Promise<void>((resolve) => {
  const tick = (): void => {
    const now = performance.now();
    // Every request due by now goes out, at its own scheduled time.
    while (sent < total && start + (sent * 1000) / rps <= now) send(start + (sent * 1000) / rps);
    if (sent < total) setImmediate(tick);
    else resolve();
  };
  tick();
});
const deadline = performance.now() + 5000;
while (latencies.length + failed < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
for (const s of sessions) s.close();
latencies.sort((a, b) => a - b);
const q = (p: number): number | null => (latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
const elapsed = (performance.now() - start) / 1000;
process.stdout.write(`${JSON.stringify({ sent, ok: latencies.length, failed, achievedRps: latencies.length / elapsed, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? null })}\n`);
