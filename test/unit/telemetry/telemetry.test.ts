import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { FlowRecord } from "../../../src/telemetry/flow-record.js";
import { readMetric, readSeries } from "../../support/read-metrics.js";
import { Telemetry, type TelemetryOptions } from "../../../src/telemetry/telemetry.js";
import { deathstar, exchange, l4DeniedFlow, l7Flow, l7Verdict, query, side, tiefighter, world, xwing } from "./flow-fixtures.js";

function setup(over: Partial<TelemetryOptions> = {}) {
  const registry = new Registry();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter((l) => l !== ""));
      cb();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const t = new Telemetry({ registry, logger, processMetrics: false, ...over });
  return { registry, t, lines };
}

const WL = {
  source_namespace: "default",
  source_workload: "tiefighter",
  destination_namespace: "default",
  destination_workload: "deathstar",
};

describe("Telemetry metrics", () => {
  it("counts every HTTP request, allowed and denied, in the Envoy and Hubble metrics", async () => {
    const { registry, t } = setup();
    const flow = l7Flow();
    for (let i = 0; i < 7; i++) t.l7Request(exchange({ flow }));
    for (let i = 0; i < 3; i++) t.l7Request(exchange({ flow, allowed: false }));

    expect(await readMetric(registry, "envoy_http_rq_total", { envoy_http_conn_manager_prefix: "proxy" })).toBe(10);
    expect(await readMetric(registry, "envoy_http_downstream_rq_xx", { envoy_response_code_class: "2" })).toBe(7);
    expect(await readMetric(registry, "envoy_http_downstream_rq_xx", { envoy_response_code_class: "4" })).toBe(3);
    expect(
      await readMetric(registry, "hubble_http_requests_total", { ...WL, method: "POST", status: "200", protocol: "HTTP/1.1", reporter: "server" }),
    ).toBe(7);
    expect(await readMetric(registry, "hubble_http_requests_total", { ...WL, method: "PUT", status: "403" })).toBe(3);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "ingress", match: "l7/http", action: "forwarded" })).toBe(7);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "ingress", match: "l7/http", action: "dropped" })).toBe(3);
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { ...WL, protocol: "http", policy: "default-deny" })).toBe(3);
  });

  it("keeps the proxy's own time and the upstream time apart in the duration histogram", async () => {
    const { registry, t } = setup();
    t.l7Request(exchange({ proxyLatencySeconds: 0.0002, upstreamLatencySeconds: 0.4 }));
    t.l7Request(exchange({ proxyLatencySeconds: 0.0003, upstreamLatencySeconds: 0.6 }));
    t.l7Request(exchange({ allowed: false, proxyLatencySeconds: 0.0001 }));
    const name = "hubble_http_request_duration_seconds";
    expect(await readMetric(registry, `${name}_count`, { phase: "proxy" })).toBe(3);
    expect(await readMetric(registry, `${name}_count`, { phase: "upstream" })).toBe(2);
    expect(await readMetric(registry, `${name}_sum`, { phase: "upstream", method: "POST" })).toBeCloseTo(1.0, 9);
    expect(await readMetric(registry, `${name}_bucket`, { phase: "proxy", method: "POST", le: "0.0005" })).toBe(2);
    expect(await readMetric(registry, `${name}_bucket`, { phase: "upstream", method: "POST", le: "0.5" })).toBe(1);
  });

  it("attributes denied requests to the policy that denied them", async () => {
    const { registry, t } = setup();
    const denyRule = { kind: "policy", policy: "default/no-exhaust", ruleIndex: 2, action: "deny", layer: "l7" } as const;
    t.l7Request(exchange({ allowed: false, verdict: l7Verdict(false, denyRule) }));
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { policy: "default/no-exhaust", protocol: "http" })).toBe(1);
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { policy: "default-deny" })).toBe(0);
  });

  it("counts L3/L4 verdicts per enforced side, and drops by reason", async () => {
    const { registry, t } = setup();
    const allowed = l7Flow();
    t.l4Verdict(allowed, query(allowed));
    const denied = l4DeniedFlow();
    t.l4Verdict(denied, query(denied));
    t.l4Verdict(denied, query(denied));
    // Egress denied by an explicit deny rule: ingress is never reached.
    const egressDenied = {
      ...l4DeniedFlow(tiefighter, world),
      egress: side("egress", { kind: "policy", policy: "default/no-world", ruleIndex: 0, action: "deny", layer: "l3-l4" }, false),
      ingress: side("ingress", { kind: "default-deny" }, false),
    };
    t.l4Verdict(egressDenied, query(egressDenied, 443));

    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "ingress", match: "l3-l4", action: "forwarded" })).toBe(1);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "ingress", match: "none", action: "dropped" })).toBe(2);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "egress", match: "l3-l4", action: "dropped" })).toBe(1);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { direction: "ingress" })).toBe(3);
    expect(await readMetric(registry, "hubble_drop_total", { reason: "POLICY_DENIED", protocol: "TCP" })).toBe(2);
    expect(await readMetric(registry, "hubble_drop_total", { reason: "POLICY_DENY", protocol: "TCP" })).toBe(1);
    expect(
      await readMetric(registry, "l7proxy_denied_requests_total", {
        protocol: "tcp",
        source_namespace: "rebels",
        source_workload: "xwing",
        destination_workload: "deathstar",
        policy: "default-deny",
      }),
    ).toBe(2);
    expect(
      await readMetric(registry, "l7proxy_denied_requests_total", {
        source_workload: "tiefighter",
        destination_namespace: "",
        destination_workload: "world",
        policy: "default/no-world",
      }),
    ).toBe(1);
  });

  it("tracks connections, bytes, parse errors, upstream failures and policy reloads", async () => {
    const { registry, t } = setup();
    t.connectionOpened();
    t.connectionOpened();
    t.connectionOpened();
    t.connectionClosed(100, 2000);
    t.parseError("L7P_ERR_HTTP_HEADER");
    t.parseError("L7P_ERR_HTTP_HEADER");
    t.parseError("L7P_ERR_HTTP_CHUNK");
    t.upstreamConnectFailure();
    t.policyReload(true, 4);
    t.policyReload(false, 4, "bad regex");
    t.policyReload(true, 5);
    expect(await readMetric(registry, "l7proxy_connections_total")).toBe(3);
    expect(await readMetric(registry, "l7proxy_connections_active")).toBe(2);
    expect(await readMetric(registry, "l7proxy_received_bytes_total")).toBe(100);
    expect(await readMetric(registry, "l7proxy_sent_bytes_total")).toBe(2000);
    expect(await readMetric(registry, "l7proxy_parse_errors_total", { code: "L7P_ERR_HTTP_HEADER" })).toBe(2);
    expect(await readMetric(registry, "l7proxy_parse_errors_total", { code: "L7P_ERR_HTTP_CHUNK" })).toBe(1);
    expect(await readMetric(registry, "l7proxy_upstream_connect_failures_total")).toBe(1);
    expect(await readMetric(registry, "l7proxy_policy_revision")).toBe(5);
    expect(await readMetric(registry, "l7proxy_policy_reloads_total", { result: "success" })).toBe(2);
    expect(await readMetric(registry, "l7proxy_policy_reloads_total", { result: "failure" })).toBe(1);
  });

  it("puts custom methods under OTHER so the method label stays bounded", async () => {
    const { registry, t } = setup();
    t.l7Request(exchange({ method: "PROPFIND" }));
    t.l7Request(exchange({ method: "X-MADE-UP-1" }));
    expect(await readMetric(registry, "hubble_http_requests_total", { method: "OTHER" })).toBe(2);
    const methods = (await readSeries(registry, "hubble_http_requests_total")).map((s) => s.labels.method);
    expect(methods).not.toContain("PROPFIND");
  });

  it("has workload-level labels by default and pod labels only when configured", async () => {
    const off = setup();
    off.t.l7Request(exchange());
    const [s] = await readSeries(off.registry, "hubble_http_requests_total");
    expect(Object.keys(s!.labels)).not.toContain("source_pod");

    const on = setup({ podLevelLabels: true });
    on.t.l7Request(exchange());
    on.t.l7Request(exchange({ allowed: false }));
    expect(await readMetric(on.registry, "hubble_http_requests_total", { source_pod: "tiefighter", destination_pod: "deathstar-1" })).toBe(2);
    expect(await readMetric(on.registry, "l7proxy_denied_requests_total", { source_pod: "tiefighter", destination_pod: "deathstar-1" })).toBe(1);
  });

  it("labels a non-endpoint source with its reserved identity", async () => {
    const { registry, t } = setup();
    t.l7Request(exchange({ flow: l7Flow(world, deathstar), allowed: false }));
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { source_namespace: "", source_workload: "world" })).toBe(1);
  });

  it("registers Node.js process metrics when asked", async () => {
    const { registry } = setup({ processMetrics: true });
    expect(registry.getSingleMetric("process_cpu_user_seconds_total")).toBeDefined();
    expect(registry.getSingleMetric("nodejs_eventloop_lag_seconds")).toBeDefined();
  });
});

describe("Telemetry flow records", () => {
  it("writes one JSON record per L7 request through pino and into the ring", () => {
    const { t, lines } = setup();
    t.l7Request(exchange());
    t.l7Request(exchange({ allowed: false }));
    expect(lines).toHaveLength(2);
    const logged = lines.map((l) => JSON.parse(l) as { kind: string; flow: FlowRecord });
    expect(logged.every((l) => l.kind === "flow")).toBe(true);
    const denied = logged[1]!.flow;
    expect(denied).toMatchObject({
      verdict: "DROPPED",
      type: "L7",
      protocol: "http",
      direction: "ingress",
      source: { namespace: "default", pod: "tiefighter", workload: "tiefighter", ip: "10.0.0.11", port: 40000, labels: { org: "empire" } },
      destination: { namespace: "default", pod: "deathstar-1", workload: "deathstar", ip: "10.0.0.21", port: 80 },
      policy: { ref: "default-deny", ruleIndex: null, direction: "ingress" },
      denyReason: "POLICY_DENIED",
      http: { method: "PUT", url: "/v1/exhaust-port", protocol: "HTTP/1.1", code: 403, latency: { proxySeconds: 0.0004, upstreamSeconds: null } },
    });
    expect(new Date(denied.time).toISOString()).toBe(denied.time);
    expect(logged[0]!.flow).toMatchObject({ verdict: "FORWARDED", policy: { ref: "default/rule1", ruleIndex: 0 } });
    expect(t.flows.recent().map((r) => r.verdict)).toEqual(["FORWARDED", "DROPPED"]);
  });

  it("writes one record per L3/L4-denied connection and none for allowed connections", () => {
    const { t, lines } = setup();
    const ok = l7Flow();
    t.l4Verdict(ok, query(ok));
    const denied = l4DeniedFlow();
    t.l4Verdict(denied, query(denied, 80, 51234));
    expect(lines).toHaveLength(1);
    const rec = (JSON.parse(lines[0]!) as { flow: FlowRecord }).flow;
    expect(rec).toMatchObject({
      verdict: "DROPPED",
      type: "L3_L4",
      protocol: "tcp",
      source: { namespace: "rebels", pod: "xwing-7d9f", port: 51234 },
      destination: { pod: "deathstar-1", port: 80 },
      policy: { ref: "default-deny" },
      sides: [{ direction: "ingress", ref: "default-deny", allowed: false }],
      denyReason: "POLICY_DENIED",
    });
    expect(rec.http).toBeUndefined();
  });

  it("redacts credentials in recorded headers", () => {
    const { t, lines } = setup();
    t.l7Request(
      exchange({
        headers: [
          ["Authorization", "Bearer secret-token"],
          ["Cookie", "session=abc"],
          ["X-Request-Id", "r-1"],
        ],
      }),
    );
    expect(lines[0]).not.toContain("secret-token");
    expect(lines[0]).not.toContain("session=abc");
    const rec = (JSON.parse(lines[0]!) as { flow: FlowRecord }).flow;
    expect(rec.http!.headers).toEqual([
      { key: "authorization", value: "[REDACTED]" },
      { key: "cookie", value: "[REDACTED]" },
      { key: "x-request-id", value: "r-1" },
    ]);
  });

  it("writes each record, with its own time, to a flow-log sink when one is given, and none when it is disabled", () => {
    const written: [unknown, string][] = [];
    const sink = (enabled: boolean) => ({ enabled, write: (json: string, time: string) => void written.push([JSON.parse(json), time]) });
    const t = new Telemetry({ registry: new Registry(), logger: null, flowLog: sink(true), processMetrics: false });
    t.l7Request(exchange());
    const denied = l4DeniedFlow(xwing, deathstar);
    t.l4Verdict(denied, query(denied));
    expect(written.map(([r, time]) => [(r as FlowRecord).verdict, time === (r as FlowRecord).time])).toEqual([
      ["FORWARDED", true],
      ["DROPPED", true],
    ]);
    expect(written.map(([r]) => r)).toEqual(t.flows.recent());
    const off = new Telemetry({ registry: new Registry(), logger: null, flowLog: sink(false), processMetrics: false });
    off.l7Request(exchange());
    expect(written).toHaveLength(2);
    expect(off.flows.size).toBe(1);
  });

  it("writes records to the ring only when no logger is given", () => {
    const registry = new Registry();
    const t = new Telemetry({ registry, logger: null, processMetrics: false });
    t.l7Request(exchange());
    expect(t.flows.size).toBe(1);
  });
});

describe("Telemetry flow-record rate limits", () => {
  function clocked(over: Partial<TelemetryOptions>) {
    let now = 1_000_000;
    const s = setup({ now: () => now, ...over });
    return { ...s, advance: (ms: number) => (now += ms) };
  }

  it("writes at most flowSampleRate forwarded records per second and counts the rest", async () => {
    const { registry, t, lines, advance } = clocked({ flowSampleRate: 5, deniedFlowMinRate: 5 });
    for (let i = 0; i < 20; i++) t.l7Request(exchange());
    expect(lines).toHaveLength(5);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "FORWARDED", result: "written" })).toBe(5);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "FORWARDED", result: "rate_limited" })).toBe(15);
    // Metrics still count every request.
    expect(await readMetric(registry, "envoy_http_rq_total")).toBe(20);
    advance(1000);
    for (let i = 0; i < 20; i++) t.l7Request(exchange());
    expect(lines).toHaveLength(10);
  });

  it("never rate-limits denied records below deniedFlowMinRate, however much forwarded traffic there is", async () => {
    const { registry, t, lines, advance } = clocked({ flowSampleRate: 10, deniedFlowMinRate: 3 });
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 1000; i++) t.l7Request(exchange());
      for (let i = 0; i < 3; i++) t.l7Request(exchange({ allowed: false }));
      advance(1000);
    }
    const verdicts = lines.map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow.verdict);
    expect(verdicts.filter((v) => v === "DROPPED")).toHaveLength(9);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "DROPPED", result: "rate_limited" })).toBe(0);
  });

  it("counts denied records past the reserved rate and the spare forwarded budget", async () => {
    const { registry, t, lines } = clocked({ flowSampleRate: 0, deniedFlowMinRate: 4 });
    const flow = l4DeniedFlow();
    for (let i = 0; i < 10; i++) t.l4Verdict(flow, query(flow));
    expect(lines).toHaveLength(4);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "DROPPED", result: "written" })).toBe(4);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "DROPPED", result: "rate_limited" })).toBe(6);
    expect(await readMetric(registry, "hubble_drop_total")).toBe(10);
  });

  it("takes the time from the request's own clock reading when the data path gives one", () => {
    // The injected clock stands still: only startedAtMs moves time on.
    const { t, lines } = clocked({ flowSampleRate: 2, deniedFlowMinRate: 0 });
    for (let i = 0; i < 5; i++) t.l7Request(exchange({ startedAtMs: 10_000 }));
    expect(lines).toHaveLength(2);
    for (let i = 0; i < 5; i++) t.l7Request(exchange({ startedAtMs: 11_000 }));
    expect(lines).toHaveLength(4);
  });

  it("lets denied records use forwarded budget that is left over", () => {
    const { t, lines } = clocked({ flowSampleRate: 5, deniedFlowMinRate: 2 });
    for (let i = 0; i < 10; i++) t.l7Request(exchange({ allowed: false, flow: l7Flow(xwing, deathstar) }));
    expect(lines).toHaveLength(7);
  });
});

describe("Telemetry consistency", () => {
  it("keeps records and counters in step across a policy reload mid-traffic", async () => {
    const { registry, t, lines } = setup({ flowSampleRate: 1_000_000, deniedFlowMinRate: 1_000_000 });
    const flow = l7Flow();
    const denyRule = { kind: "policy", policy: "default/rule2", ruleIndex: 1, action: "deny", layer: "l7" } as const;
    let sentAllowed = 0;
    let sentDenied = 0;
    t.policyReload(true, 1);
    for (let i = 0; i < 300; i++) {
      // Revision 2 arrives a third of the way in and turns some requests into denials by rule2.
      if (i === 100) t.policyReload(true, 2);
      if (i === 200) t.policyReload(false, 2, "broken file");
      const deny = i >= 100 && i % 3 === 0;
      t.l7Request(exchange({ flow, allowed: !deny, ...(deny ? { verdict: l7Verdict(false, denyRule) } : {}) }));
      if (deny) sentDenied++;
      else sentAllowed++;
    }
    const records = lines.map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow);
    expect(records.filter((r) => r.verdict === "FORWARDED")).toHaveLength(sentAllowed);
    expect(records.filter((r) => r.verdict === "DROPPED")).toHaveLength(sentDenied);
    expect(records.filter((r) => r.policy.ref === "default/rule2")).toHaveLength(sentDenied);
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { policy: "default/rule2" })).toBe(sentDenied);
    expect(await readMetric(registry, "hubble_http_requests_total")).toBe(sentAllowed + sentDenied);
    expect(await readMetric(registry, "l7proxy_flow_records_total", { result: "written" })).toBe(sentAllowed + sentDenied);
    expect(await readMetric(registry, "l7proxy_policy_revision")).toBe(2);
  });

  it("accounts for every request as written or rate-limited under load", async () => {
    let now = 0;
    const { registry, t } = setup({ flowSampleRate: 50, deniedFlowMinRate: 20, now: () => now });
    let sent = 0;
    for (let ms = 0; ms < 3000; ms += 10) {
      now = ms;
      t.l7Request(exchange());
      t.l7Request(exchange({ allowed: false }));
      sent += 2;
    }
    const written = await readMetric(registry, "l7proxy_flow_records_total", { result: "written" });
    const limited = await readMetric(registry, "l7proxy_flow_records_total", { result: "rate_limited" });
    expect(written + limited).toBe(sent);
    expect(written).toBe(t.flows.size);
    // 300 denied over 3 s with 20/s reserved: at least 60 written, and every one counted.
    expect(await readMetric(registry, "l7proxy_flow_records_total", { verdict: "DROPPED", result: "written" })).toBeGreaterThanOrEqual(60);
  });

  it("counts a request the upstream never answered (status 0) without a status class", async () => {
    const { registry, t } = setup();
    t.l7Request(exchange({ status: 0 }));
    expect(await readMetric(registry, "envoy_http_rq_total")).toBe(1);
    expect(await readMetric(registry, "envoy_http_downstream_rq_xx")).toBe(0);
  });
});
