import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { DnsDetail, L7Exchange } from "../../../src/datapath/observer.js";
import type { FlowVerdict, L7Verdict, Peer } from "../../../src/policy/decision.js";
import { l7Record } from "../../../src/telemetry/flow-record.js";
import { formatFlowLine } from "../../../src/telemetry/flow-format.js";
import { createMetrics } from "../../../src/telemetry/metrics.js";
import { dnsTelemetry } from "../../../src/telemetry/protocols/dns.js";
import { PairCells } from "../../../src/telemetry/pair-cells.js";
import { side } from "./flow-fixtures.js";

const app: Peer = { ip: "10.0.0.5", endpoint: { namespace: "default", name: "app", workload: "app", labels: { app: "app" } } };
const coredns: Peer = { ip: "10.0.0.53", endpoint: { namespace: "kube-system", name: "coredns", workload: "coredns", labels: { "k8s-app": "kube-dns" } } };
const policyDeny = side("egress", { kind: "default-deny", policies: ["allow-egress-to-example-com"] }, false);
const flow: FlowVerdict = { allowed: true, source: app, destination: coredns, egress: side("egress", { kind: "policy", policy: "allow-egress-to-example-com", ruleIndex: 0, action: "allow", layer: "l3-l4" }, true), ingress: side("ingress", { kind: "not-enforced" }, true, false), l7: "dns" };
const denied: L7Verdict = { allowed: false, egress: policyDeny, ingress: flow.ingress, headerOps: [], logs: [] };

function exchange(detail: Partial<DnsDetail>, verdict: L7Verdict = denied): L7Exchange<DnsDetail> {
  return {
    flow,
    query: { srcIp: app.ip, srcPort: 40000, dstIp: coredns.ip, dstPort: 53, protocol: "UDP" },
    verdict,
    proxyLatencySeconds: 0.0001,
    upstreamLatencySeconds: undefined,
    startedAtMs: 1,
    detail: { protocol: "dns", query: "evil.test.", qtypes: ["A"], rcode: "REFUSED", ips: [], ttl: null, transport: "udp", ...detail },
  };
}

describe("DNS telemetry", () => {
  it("a denied query's record and its observe line", () => {
    const rec = l7Record(exchange({}), "2026-01-01T00:00:00.000Z", { redact: "none" } as never);
    expect(rec).toMatchObject({ verdict: "DROPPED", protocol: "dns", dns: { query: "evil.test.", qtypes: ["A"], rcode: "REFUSED", ips: [], ttl: null } });
    const line = formatFlowLine(rec, { color: false } as never);
    expect(line).toMatch(/^DROPPED\s+default\/app -> kube-system\/coredns:53\s+dns A evil\.test\. REFUSED\s+policy /);
  });

  it("counts the query and the response with Hubble's labels", async () => {
    const registry = new Registry();
    const m = createMetrics(registry);
    const counter = dnsTelemetry.metrics(m);
    const pair = new PairCells(m, "default", "app", "kube-system", "coredns", "app", "coredns");
    counter.count(exchange({ rcode: "NOERROR", query: "api.example.com.", ips: ["192.0.2.1", "192.0.2.2"], ttl: 30 }), { pair, reporter: 0 });
    counter.count(exchange({}), { pair, reporter: 0 });
    const text = await registry.metrics();
    expect(text).toContain('hubble_dns_queries_total{rcode="",qtypes="A",ips_returned="0",reporter="client",source_namespace="default",source_workload="app",destination_namespace="kube-system",destination_workload="coredns"} 2');
    expect(text).toContain('hubble_dns_responses_total{rcode="NOERROR",qtypes="A",ips_returned="2",reporter="client"');
    expect(text).toContain('hubble_dns_responses_total{rcode="REFUSED",qtypes="A",ips_returned="0",reporter="client"');
  });

  it("repeated and alternating answers are each counted under their own labels (the last cells are a shortcut only)", async () => {
    const registry = new Registry();
    const m = createMetrics(registry);
    const counter = dnsTelemetry.metrics(m);
    const pair = new PairCells(m, "default", "app", "kube-system", "coredns", "app", "coredns");
    const ok = (ips: string[]) => exchange({ rcode: "NOERROR", query: "api.example.com.", ips, ttl: 30 });
    const many = Array.from({ length: 20 }, (_, i) => `192.0.2.${i + 1}`);
    const seq = [ok(["192.0.2.1"]), ok(["192.0.2.1"]), exchange({}), ok(["192.0.2.1"]), ok(["192.0.2.1", "192.0.2.2"]), exchange({ qtypes: ["AAAA"] }), ok(many), ok(many.slice(0, 17))];
    for (const ex of seq) counter.count(ex, { pair, reporter: 0 });
    counter.count(ok(["192.0.2.1"]), { pair, reporter: 1 });
    const text = await registry.metrics();
    const value = (name: string, labels: string) => new RegExp(`${name}\\{${labels},reporter="client"[^}]*\\} (\\d+)`).exec(text)?.[1];
    expect(value("hubble_dns_responses_total", 'rcode="NOERROR",qtypes="A",ips_returned="1"')).toBe("3");
    expect(value("hubble_dns_responses_total", 'rcode="NOERROR",qtypes="A",ips_returned="2"')).toBe("1");
    expect(value("hubble_dns_responses_total", 'rcode="NOERROR",qtypes="A",ips_returned="16\\+"')).toBe("2");
    expect(value("hubble_dns_responses_total", 'rcode="REFUSED",qtypes="A",ips_returned="0"')).toBe("1");
    expect(value("hubble_dns_responses_total", 'rcode="REFUSED",qtypes="AAAA",ips_returned="0"')).toBe("1");
    expect(value("hubble_dns_queries_total", 'rcode="",qtypes="A",ips_returned="0"')).toBe("7");
    expect(value("hubble_dns_queries_total", 'rcode="",qtypes="AAAA",ips_returned="0"')).toBe("1");
    expect(text).toMatch(/hubble_dns_responses_total\{rcode="NOERROR",qtypes="A",ips_returned="1",reporter="server"[^}]*\} 1/);
  });
});
