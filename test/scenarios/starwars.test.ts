// The Star Wars demo from Cilium's getting-started guide, with the files shipped in
// proxy-config/starwars: first the L3/L4 policy, then the L7 one.

import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/policy/compile/index.js";
import { parseEndpointsText } from "../../src/policy/endpoints/load-endpoints.js";
import { flow, httpRequest, policiesFromYaml } from "../support/policy-fixtures.js";

const dir = path.resolve(import.meta.dirname, "../../proxy-config/starwars");
const read = (f: string): string => readFileSync(path.join(dir, f), "utf8");
const inventory = parseEndpointsText(read("endpoints.yaml"), "endpoints.yaml");
const DEATHSTAR_1 = "10.200.0.11";
const DEATHSTAR_2 = "10.200.0.12";
const TIEFIGHTER = "10.200.0.21";
const XWING = "10.200.0.31";

describe("Star Wars, L3/L4 policy", () => {
  const { snapshot, warnings } = compilePolicies(policiesFromYaml(read("l4-policy.yaml")), inventory);

  it("compiles without warnings", () => {
    expect(warnings).toEqual([]);
  });

  it("lets the tiefighter (org=empire) reach both deathstars on 80/TCP, without L7", () => {
    for (const ds of [DEATHSTAR_1, DEATHSTAR_2]) {
      const v = snapshot.decideFlow(flow(TIEFIGHTER, ds, 80));
      expect(v.allowed).toBe(true);
      expect(v.l7).toBeNull();
      expect(v.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "default/rule1", ruleIndex: 0, action: "allow", layer: "l3-l4" });
      expect(v.egress.decidedBy).toEqual({ kind: "not-enforced" });
    }
  });

  it("drops the xwing (org=alliance) by default deny", () => {
    const v = snapshot.decideFlow(flow(XWING, DEATHSTAR_1, 80));
    expect(v.allowed).toBe(false);
    expect(v.ingress.decidedBy).toEqual({ kind: "default-deny" });
  });

  it("drops other ports and UDP even for the empire", () => {
    expect(snapshot.decideFlow(flow(TIEFIGHTER, DEATHSTAR_1, 443)).allowed).toBe(false);
    expect(snapshot.decideFlow(flow(TIEFIGHTER, DEATHSTAR_1, 80, "UDP")).allowed).toBe(false);
  });

  it("enforces only the deathstars' ingress", () => {
    expect(snapshot.enforcedIps()).toEqual({ ingress: [DEATHSTAR_1, DEATHSTAR_2], egress: [] });
    expect(snapshot.decideFlow(flow(XWING, TIEFIGHTER, 80)).allowed).toBe(true);
  });
});

describe("Star Wars, L7 policy", () => {
  const { snapshot } = compilePolicies(policiesFromYaml(read("l7-policy.yaml")), inventory, { revision: 7 });

  it("marks the tiefighter's connection for HTTP inspection", () => {
    const v = snapshot.decideFlow(flow(TIEFIGHTER, DEATHSTAR_1, 80));
    expect(v.allowed).toBe(true);
    expect(v.l7).toBe("http");
    expect(snapshot.revision).toBe(7);
  });

  it("allows only POST /v1/request-landing", () => {
    const q = flow(TIEFIGHTER, DEATHSTAR_2, 80);
    const f = snapshot.decideFlow(q);
    const ok = snapshot.decideHttp(f, q, httpRequest("POST", "/v1/request-landing", {}, "deathstar.default.svc.cluster.local"));
    expect(ok.allowed).toBe(true);
    expect(ok.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "default/rule1", layer: "l7" });
    const exhaust = snapshot.decideHttp(f, q, httpRequest("PUT", "/v1/exhaust-port"));
    expect(exhaust.allowed).toBe(false);
    expect(exhaust.ingress.decidedBy.kind).toBe("default-deny");
    // Full match: neither a longer path, a query string nor a lower-case method is the same request.
    expect(snapshot.decideHttp(f, q, httpRequest("POST", "/v1/request-landing/x")).allowed).toBe(false);
    expect(snapshot.decideHttp(f, q, httpRequest("POST", "/v1/request-landing?x=1")).allowed).toBe(false);
    expect(snapshot.decideHttp(f, q, httpRequest("post", "/v1/request-landing")).allowed).toBe(false);
  });

  it("still drops the xwing at L3/L4", () => {
    const q = flow(XWING, DEATHSTAR_1, 80);
    const f = snapshot.decideFlow(q);
    expect(f.allowed).toBe(false);
    expect(f.l7).toBeNull();
    expect(snapshot.decideHttp(f, q, httpRequest("POST", "/v1/request-landing")).allowed).toBe(false);
  });
});
