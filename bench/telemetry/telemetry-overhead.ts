// Micro-benchmark: what Telemetry costs the data path per HTTP request, with flow records
// rate-limited (steady state under load), with every record written through pino, and
// next to prom-client's own label-per-call counters for comparison. Prints ns per request;
// compare with the end-to-end cost of a proxied request from the load benchmark.
//
// Run: npx tsc -p tsconfig.json --outDir /tmp/l7b && node /tmp/l7b/bench/telemetry/telemetry-overhead.js

import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import type { HttpDetail, L7Exchange } from "../../src/datapath/observer.js";
import type { FlowVerdict, L7Verdict } from "../../src/policy/decision.js";
import { Telemetry } from "../../src/telemetry/telemetry.js";

const flow: FlowVerdict = {
  allowed: true,
  source: { ip: "10.0.0.11", endpoint: { namespace: "default", name: "tiefighter", workload: "tiefighter", labels: { org: "empire" } } },
  destination: { ip: "10.0.0.21", endpoint: { namespace: "default", name: "deathstar-1", workload: "deathstar", labels: { org: "empire" } } },
  egress: { direction: "egress", enforced: false, allowed: true, decidedBy: { kind: "not-enforced" } },
  ingress: { direction: "ingress", enforced: true, allowed: true, decidedBy: { kind: "policy", policy: "default/rule1", ruleIndex: 0, action: "allow", layer: "l7" } },
  l7: "http",
};
const verdict: L7Verdict = { allowed: true, egress: flow.egress, ingress: flow.ingress, headerOps: [], logs: [] };
const ex: L7Exchange<HttpDetail> = {
  flow,
  query: { srcIp: "10.0.0.11", dstIp: "10.0.0.21", dstPort: 80, srcPort: 40000, protocol: "TCP" },
  verdict,
  proxyLatencySeconds: 0.0002,
  upstreamLatencySeconds: 0.001,
  startedAtMs: undefined,
  detail: { protocol: "http", method: "POST", url: "/v1/request-landing", host: "deathstar", version: "HTTP/1.1", status: 200 },
};

function measure(name: string, n: number, fn: () => void): void {
  for (let i = 0; i < 50_000; i++) fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/request`);
}

const N = 1_000_000;
const devnull = pino.destination({ dest: "/dev/null", sync: false });

const limited = new Telemetry({ registry: new Registry(), logger: pino(devnull), processMetrics: false, flowSampleRate: 0, deniedFlowMinRate: 0 });
measure("metrics only (flow records rate-limited)", N, () => limited.l7Request(ex));

const all = new Telemetry({ registry: new Registry(), logger: pino(devnull), processMetrics: false, flowSampleRate: Infinity });
measure("metrics + every flow record written (pino, /dev/null)", N / 5, () => all.l7Request(ex));

const ringOnly = new Telemetry({ registry: new Registry(), logger: null, processMetrics: false, flowSampleRate: Infinity });
measure("metrics + every flow record to the ring only", N / 5, () => ringOnly.l7Request(ex));

// The same series with prom-client's own API, labels hashed on every call.
const reg = new Registry();
const labels = ["method", "protocol", "status", "reporter", "source_namespace", "source_workload", "destination_namespace", "destination_workload"];
const rq = new Counter({ name: "a_total", help: "h", labelNames: ["envoy_http_conn_manager_prefix"], registers: [reg] });
const xx = new Counter({ name: "b_total", help: "h", labelNames: ["envoy_http_conn_manager_prefix", "envoy_response_code_class"], registers: [reg] });
const req = new Counter({ name: "c_total", help: "h", labelNames: labels, registers: [reg] });
const dur = new Histogram({ name: "d_seconds", help: "h", labelNames: ["method", "reporter", "phase", ...labels.slice(4)], registers: [reg] });
const pv = new Counter({ name: "e_total", help: "h", labelNames: ["direction", "match", "action"], registers: [reg] });
measure("for comparison: the same metrics via prom-client labels()", N / 5, () => {
  rq.inc({ envoy_http_conn_manager_prefix: "proxy" });
  xx.inc({ envoy_http_conn_manager_prefix: "proxy", envoy_response_code_class: "2" });
  const ctx = { source_namespace: "default", source_workload: "tiefighter", destination_namespace: "default", destination_workload: "deathstar" };
  req.inc({ method: ex.detail.method, protocol: ex.detail.version, status: String(ex.detail.status), reporter: "server", ...ctx });
  dur.observe({ method: ex.detail.method, reporter: "server", phase: "proxy", ...ctx }, ex.proxyLatencySeconds);
  dur.observe({ method: ex.detail.method, reporter: "server", phase: "upstream", ...ctx }, ex.upstreamLatencySeconds!);
  pv.inc({ direction: "ingress", match: "l7/http", action: "forwarded" });
});
// pino.destination opens asynchronously; give it time to drain before exit.
setTimeout(() => devnull.end(), 100);
