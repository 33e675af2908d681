// Policy engine micro-benchmark: compile time for 1,000 and 10,000 policies, and the cost of
// one HTTP decision with 1, 100 and 10,000 rules on one port (in one policy, and spread over
// as many policies). Imports the built engine: run `npm run build` first, then
//   node bench/policy/policy-bench.mjs
// Numbers are printed, never asserted (see docs/semantics.md for the indexing design).

import { performance } from "node:perf_hooks";
import { compilePolicies } from "../../dist/policy/compile/index.js";

const CLIENT_IP = "10.50.0.2";
const SERVER_IP = "10.50.0.3";

function inventory(extra = 0) {
  const endpoints = [
    { name: "client", namespace: "bench", labels: { app: "client" }, ips: [CLIENT_IP], workload: "client" },
    { name: "server", namespace: "bench", labels: { app: "server" }, ips: [SERVER_IP], workload: "server" },
  ];
  for (let i = 0; i < extra; i++) {
    endpoints.push({ name: `svc-${i}`, namespace: "bench", labels: { app: `svc-${i % 100}`, tier: `t${i % 7}` }, ips: [`10.51.${Math.floor(i / 250)}.${(i % 250) + 1}`], workload: `svc-${i % 100}` });
  }
  return { namespaces: [{ name: "bench", labels: {} }], endpoints };
}

function policy(name, rules) {
  return { kind: "CiliumNetworkPolicy", name, namespace: "bench", source: { file: "bench", line: 1, col: 1 }, rules };
}

function httpRule(i) {
  return { method: i % 2 === 0 ? "GET" : "POST", path: `/api/v${i}/items/.*` };
}

function ingressTo(selector, fromApp, port, http) {
  return {
    endpointSelector: { matchLabels: selector },
    ingress: [{ fromEndpoints: [{ matchLabels: { app: fromApp } }], toPorts: [{ ports: [{ port: String(port), protocol: "TCP" }], rules: { http } }] }],
  };
}

function timeIt(fn, minMs = 300) {
  // Warm up, then run batches until minMs has elapsed; ns per call.
  for (let i = 0; i < 1000; i++) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    for (let i = 0; i < 1000; i++) fn();
    calls += 1000;
    now = performance.now();
  }
  return ((now - start) * 1e6) / calls;
}

function req(method, path) {
  return { method, path, host: "server", header: () => undefined };
}

const rows = [];

// 1. Compile time.
for (const n of [1000, 10000]) {
  const policies = [];
  for (let i = 0; i < n; i++) policies.push(policy(`p${i}`, [ingressTo({ app: `svc-${i % 100}` }, `svc-${(i + 1) % 100}`, 8000 + (i % 10), [httpRule(i)])]));
  const inv = inventory(1000);
  const t0 = performance.now();
  const { warnings } = compilePolicies(policies, inv, { revision: 1 });
  const ms = performance.now() - t0;
  rows.push([`compile ${n.toLocaleString("en")} policies, 1,002 endpoints`, `${ms.toFixed(0)} ms`, warnings.length === 0 ? "" : `${warnings.length} warnings`]);
}

// 2. Decision time with N HTTP rules on one port.
const base = {};
for (const layout of ["one policy", "N policies"]) {
  for (const n of [1, 100, 10000]) {
    const rules = [];
    for (let i = 0; i < n; i++) rules.push(httpRule(i));
    const policies =
      layout === "one policy"
        ? [policy("all", [ingressTo({ app: "server" }, "client", 8080, rules)])]
        : rules.map((r, i) => policy(`p${i}`, [ingressTo({ app: "server" }, "client", 8080, [r])]));
    const { snapshot } = compilePolicies(policies, inventory(), { revision: 1 });
    const q = { srcIp: CLIENT_IP, dstIp: SERVER_IP, dstPort: 8080, protocol: "TCP" };
    const flow = snapshot.decideFlow(q);
    if (!flow.allowed || flow.l7 !== "http") throw new Error("bench setup: flow should be allowed with HTTP rules");
    const last = n - 1;
    const hit = req(last % 2 === 0 ? "GET" : "POST", `/api/v${last}/items/42?x=1`);
    const miss = req("GET", "/nothing/here");
    if (!snapshot.decideHttp(flow, q, hit).allowed || snapshot.decideHttp(flow, q, miss).allowed) throw new Error("bench setup: wrong verdicts");
    const hitNs = timeIt(() => snapshot.decideHttp(flow, q, hit));
    const missNs = timeIt(() => snapshot.decideHttp(flow, q, miss));
    const flowNs = timeIt(() => snapshot.decideFlow(q), 200);
    if (n === 1) base[layout] = hitNs;
    rows.push([
      `decideHttp, ${n.toLocaleString("en")} rules on one port (${layout})`,
      `${hitNs.toFixed(0)} ns allowed / ${missNs.toFixed(0)} ns denied`,
      `${(hitNs / base[layout]).toFixed(2)}x one rule; decideFlow ${flowNs.toFixed(0)} ns`,
    ]);
  }
}

const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
console.log(`${"measurement".padEnd(w0)}  ${"time".padEnd(w1)}  notes`);
for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}`);
