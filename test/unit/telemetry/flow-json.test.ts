// The log line's JSON must be exactly the record's JSON: observe, jq pipelines and log
// collectors parse it, and /flows serves the record built the other way.

import { describe, expect, it } from "vitest";
import type { HttpDetail, L7Exchange } from "../../../src/datapath/observer.js";
import type { DecidedBy, FlowQuery, FlowVerdict, L7Verdict, Peer, SideVerdict } from "../../../src/policy/decision.js";
import { L7RecordJson } from "../../../src/telemetry/flow-json.js";
import { l7Record } from "../../../src/telemetry/flow-record.js";
import type { RecordOptions } from "../../../src/telemetry/protocols/protocol-telemetry.js";
import { prng } from "../../support/prng.js";
import { deathstar, exchange, l7Flow, side, tiefighter, world, xwing } from "./flow-fixtures.js";

const STRINGS = ["", "plain", 'quo"te', "back\\slash", "tab\there", "nl\nx", "ünïcödé", "emoji 🚀", "\u2028\u2029", "\u0000ctl\u001f", "lone \ud800 surrogate"];
const DECIDERS: DecidedBy[] = [
  { kind: "policy", policy: "default/rule1", ruleIndex: 0, action: "allow", layer: "l7" },
  { kind: "policy", policy: "ns/p", ruleIndex: 3, action: "deny", layer: "l3-l4" },
  { kind: "policy", policy: "cluster-wide", ruleIndex: 1, action: "allow", layer: "l3-l4" },
  { kind: "default-deny" },
  { kind: "default-deny", layer: "l7", policies: ["default/rule1", "default/rule2"] } as DecidedBy,
  { kind: "not-enforced" },
];

function randomCase(r: () => number): { ex: L7Exchange<HttpDetail>; opts: RecordOptions; time: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const str = (): string => pick(STRINGS) + (r() < 0.5 ? "" : pick(STRINGS));
  const peer = (): Peer => {
    const base = pick([tiefighter, xwing, deathstar, world]);
    if (r() < 0.5 || base.endpoint === undefined) return base;
    const labels: Record<string, string> = {};
    for (let i = Math.floor(r() * 4); i > 0; i--) labels[`k8s:${str()}`] = str();
    return { ip: base.ip, endpoint: { ...base.endpoint, name: str(), labels } };
  };
  const sideOf = (direction: "ingress" | "egress"): SideVerdict => {
    const by = pick(DECIDERS);
    return side(direction, by, by.kind !== "default-deny" && !(by.kind === "policy" && by.action === "deny"), by.kind !== "not-enforced");
  };
  const egress = sideOf("egress");
  const ingress = sideOf("ingress");
  const allowed = egress.allowed && ingress.allowed;
  const flow: FlowVerdict = { allowed: true, source: peer(), destination: peer(), egress, ingress, l7: "http" };
  const query: FlowQuery = { srcIp: flow.source.ip, dstIp: flow.destination.ip, dstPort: pick([80, 8080, 443]), protocol: "TCP", ...(r() < 0.9 ? { srcPort: 1024 + Math.floor(r() * 60000) } : {}) };
  const audit = !allowed && r() < 0.3;
  const verdict: L7Verdict = { allowed: allowed || audit, egress, ingress, headerOps: [], logs: r() < 0.3 ? [str(), str()] : [] };
  if (audit) verdict.audit = true;
  const detail: HttpDetail = {
    protocol: "http",
    method: pick(["GET", "POST", "PURGE", str()]),
    url: pick(["/", "/a?b=1&c=2", "http://user:pw@h/x?q=1#f", `/${str()}`, "/".padEnd(5000, "x")]),
    host: str(),
    version: pick(["HTTP/1.0", "HTTP/1.1", "HTTP/2"] as const),
    status: pick([0, 200, 403, 503]),
  };
  if (r() < 0.3) detail.headers = [["Authorization", "Bearer x"], ["X-Id", str()]];
  if (r() < 0.2) detail.grpc = { service: str(), method: str(), status: pick([null, 0, 7]) };
  const ex: L7Exchange<HttpDetail> = {
    flow,
    query,
    verdict,
    // Long binary fractions, as time differences give, and exact ones.
    proxyLatencySeconds: pick([0, 0.0004, r() / 997, 1e-7 * r()]),
    upstreamLatencySeconds: r() < 0.7 ? r() / 31 : undefined,
    startedAtMs: undefined,
    detail,
  };
  return { ex, opts: { redact: { query: r() < 0.5 } }, time: new Date(1.7e12 + Math.floor(r() * 1e10)).toISOString() };
}

describe("L7RecordJson", () => {
  it("writes exactly JSON.stringify(l7Record(...)) for 2,000 varied requests", () => {
    const r = prng(20261122);
    for (let i = 0; i < 2000; i++) {
      const { ex, opts, time } = randomCase(r);
      const json = new L7RecordJson(opts);
      const expected = JSON.stringify(l7Record(ex, time, opts));
      expect(json.line(ex, time), `case ${i}`).toBe(expected);
      // Again, from the caches.
      expect(json.line(ex, time), `case ${i}, cached`).toBe(expected);
    }
  });

  it("follows a policy reload: a new flow verdict for the same connection is not served from the cache", () => {
    const json = new L7RecordJson({ redact: { query: false } });
    const before = exchange();
    expect(JSON.parse(json.line(before, "t")).source.pod).toBe("tiefighter");
    // The same connection (query object), re-decided with another source identity.
    const after: L7Exchange<HttpDetail> = { ...before, flow: l7Flow(xwing, deathstar) };
    const line = json.line(after, "t");
    expect(line).toBe(JSON.stringify(l7Record(after, "t", { redact: { query: false } })));
    expect(JSON.parse(line).source.pod).toBe("xwing-7d9f");
  });

  it("keeps requests of one connection apart: the per-request parts are never cached", () => {
    const json = new L7RecordJson({ redact: { query: false } });
    const a = exchange();
    const b: L7Exchange<HttpDetail> = { ...a, detail: { ...a.detail, url: "/other", status: 503 }, proxyLatencySeconds: 0.25 };
    json.line(a, "t1");
    expect(json.line(b, "t2")).toBe(JSON.stringify(l7Record(b, "t2", { redact: { query: false } })));
  });
});
