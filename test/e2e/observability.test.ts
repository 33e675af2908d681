// After real traffic through the intercepting proxy, the metrics count exactly what was sent,
// the flow records name the deciding policy, `l7proxy observe` filters them, and counts and
// records stay consistent across a policy reload in the middle of traffic.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, NetnsCluster } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { runLoad } from "../support/load-client.js";
import { requireRootOrSkip } from "../support/root.js";
import { upstreamGetPolicy as policy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("observability e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const UP = "http://10.203.0.20";


/** Sums the samples of one metric whose labels include all of `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? ([0-9.eE+-]+|NaN)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

describe.runIf(canRun)("metrics and flow records after real traffic", () => {
  const cluster = new NetnsCluster(`ob${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9907,
    servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream"] }],
  });
  const metrics = async (): Promise<string> => (await cluster.admin("/metrics")).body;

  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([policy("upstream-l7", ["/ok"])]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("counters equal the allowed and denied requests sent", async () => {
    const before = await metrics();
    const allowed = 12;
    const denied = 5;
    // One curl per batch: requests on one keep-alive connection.
    const a = await cluster.curl("client", Array.from({ length: allowed }, () => `${UP}/ok`));
    expect(a.stdout.match(/upstream GET \/ok 0/g)?.length).toBe(allowed);
    const d = await cluster.curl("client", Array.from({ length: denied }, () => `${UP}/nope`));
    expect(d.stdout.match(/Access denied/g)?.length).toBe(denied);
    // And one connection denied at L3/L4 (no rule for port 81).
    expect((await cluster.curl("client", [`${UP}:81/`])).status).toBe(0);
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}): number => metric(after, name, labels) - metric(before, name, labels);

    expect(delta("envoy_http_rq_total", { envoy_http_conn_manager_prefix: "proxy" })).toBe(allowed + denied);
    expect(delta("envoy_http_downstream_rq_xx", { envoy_response_code_class: "2" })).toBe(allowed);
    expect(delta("envoy_http_downstream_rq_xx", { envoy_response_code_class: "4" })).toBe(denied);
    expect(delta("hubble_http_requests_total", { status: "200", destination_workload: "upstream" })).toBe(allowed);
    expect(delta("hubble_http_requests_total", { status: "403", source_workload: "client" })).toBe(denied);
    expect(delta("l7proxy_denied_requests_total", { protocol: "http", policy: "default/upstream-l7", destination_workload: "upstream" })).toBe(denied);
    expect(delta("l7proxy_denied_requests_total", { protocol: "tcp", policy: "default-deny" })).toBe(1);
    expect(delta("hubble_drop_total", { reason: "POLICY_DENIED", protocol: "TCP" })).toBe(1);
    expect(delta("hubble_policy_verdicts_total", { match: "l7/http", action: "forwarded" })).toBe(allowed);
    expect(delta("hubble_policy_verdicts_total", { match: "l7/http", action: "dropped" })).toBe(denied);
  });

  test("flow records name the deciding policy, and observe filters them", async () => {
    const flows = (await cluster.admin("/flows?verdict=DROPPED&protocol=http")).body
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { verdict: string; policy: { ref: string }; http: { url: string; code: number }; source: { pod: string } });
    expect(flows.length).toBeGreaterThanOrEqual(5);
    for (const f of flows) {
      expect(f).toMatchObject({ verdict: "DROPPED", policy: { ref: "default/upstream-l7" }, http: { url: "/nope", code: 403 }, source: { pod: "client" } });
    }
    const obs = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--verdict", "DROPPED", "--last", "3"]);
    const lines = obs.stdout.trim().split("\n");
    expect(lines.length).toBe(3);
    // Oldest first: two of the denied requests, then the connection denied at L3/L4.
    expect(lines[1]).toMatch(/^DROPPED\s+default\/client -> default\/upstream:80\s+http GET \/nope 403\s+policy default\/upstream-l7$/);
    expect(lines[2]).toMatch(/^DROPPED\s+default\/client -> default\/upstream:81\s.*default-deny/);
    const fwd = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--verdict", "FORWARDED", "--pod", "client", "--json", "--last", "2"]);
    for (const line of fwd.stdout.trim().split("\n")) expect(JSON.parse(line)).toMatchObject({ verdict: "FORWARDED", http: { url: "/ok", code: 200 } });
  });

  test("metrics and flow records stay consistent across a reload mid-traffic", async () => {
    const before = await metrics();
    const load = runLoad(cluster.topo.pod("client").netns, `${UP}/ok`, { connections: 4, durationMs: 3000, rate: 400 });
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.applyPolicies([policy("upstream-l7-v2", ["/ok", "/also-ok"])]);
    const report = await load;
    expect(report.failures).toEqual({});
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}): number => metric(after, name, labels) - metric(before, name, labels);
    expect(delta("envoy_http_rq_total")).toBe(report.sent);
    expect(delta("envoy_http_downstream_rq_xx", { envoy_response_code_class: "2" })).toBe(report.sent);
    // Every request is either written as a record or counted as rate limited.
    expect(delta("l7proxy_flow_records_total", { verdict: "FORWARDED" })).toBe(report.sent);
    expect(delta("l7proxy_policy_reloads_total", { result: "success" })).toBe(1);
    // Records after the reload name the new policy.
    const last = (await cluster.admin("/flows?verdict=FORWARDED&last=1")).body.trim();
    expect(JSON.parse(last)).toMatchObject({ policy: { ref: "default/upstream-l7-v2" } });
  });
});
