import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { anchor, groupRules, renderHaproxyConfig } from "../../../../bench/load/haproxy/haproxy-config.js";
import { portPolicyFor, UnsupportedPolicyError } from "../../../../bench/load/haproxy/port-policy.js";
import { policyYaml } from "../../../../bench/load/policy-fixture.js";
import { parseEndpointsText } from "../../../../src/policy/endpoints/load-endpoints.js";
import { parsePolicyText } from "../../../../src/policy/load/index.js";

const inventory = parseEndpointsText(
  `namespaces:
  - name: default
    labels: {kubernetes.io/metadata.name: default}
endpoints:
  - {name: deathstar, namespace: default, labels: {org: empire, class: deathstar}, ips: [10.0.0.10]}
  - {name: tiefighter, namespace: default, labels: {org: empire, class: tiefighter}, ips: [10.0.0.21]}
  - {name: xwing, namespace: default, labels: {org: alliance, class: xwing}, ips: [10.0.0.31]}
`,
  "endpoints.yaml",
);

function policies(text: string) {
  const r = parsePolicyText(text, "policy.yaml");
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.policies;
}

const STARWARS_L7 = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: default}
spec:
  endpointSelector: {matchLabels: {org: empire, class: deathstar}}
  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - method: POST
          path: /v1/request-landing
`;

const haproxyAvailable = spawnSync("haproxy", ["-v"]).status === 0;

describe("portPolicyFor", () => {
  test("resolves the allowed peers to the endpoint IPs the selector matches", () => {
    const p = portPolicyFor(policies(STARWARS_L7), inventory, "deathstar", 80);
    expect(p).toEqual({
      enforced: true,
      entries: [expect.objectContaining({ deny: false, sources: ["10.0.0.10", "10.0.0.21"], http: [{ method: "POST", path: "/v1/request-landing" }] })],
    });
  });

  test("a port no rule names has no entries: every connection is refused", () => {
    const p = portPolicyFor(policies(STARWARS_L7), inventory, "deathstar", 8080);
    expect(p).toEqual({ enforced: true, entries: [] });
  });

  test("an endpoint no policy selects is not enforced", () => {
    expect(portPolicyFor(policies(STARWARS_L7), inventory, "xwing", 80)).toEqual({ enforced: false });
  });

  test("refuses what HAProxy could not enforce identically instead of approximating it", () => {
    const world = STARWARS_L7.replace("fromEndpoints: [{matchLabels: {org: empire}}]", "fromEntities: [world]");
    expect(() => portPolicyFor(policies(world), inventory, "deathstar", 80)).toThrow(UnsupportedPolicyError);
  });
});

describe("renderHaproxyConfig", () => {
  const rendered = renderHaproxyConfig(portPolicyFor(policies(STARWARS_L7), inventory, "deathstar", 80), {
    bind: ":15002 transparent",
    server: "0.0.0.0:0",
    patternDir: "/tmp/patterns",
  });
  const lines = rendered.config.split("\n").map((l) => l.trim());

  test("binds transparently, forwards to the original destination, one thread", () => {
    expect(lines).toContain("bind :15002 transparent");
    expect(lines).toContain("server s 0.0.0.0:0");
    expect(lines).toContain("nbthread 1");
  });

  test("refuses peers the policy does not allow at connect time, as l7proxy resets them", () => {
    expect(lines).toContain("acl l4_allowed src -m ip -f /tmp/patterns/l4_allowed.lst");
    expect(lines).toContain("tcp-request connection reject if !l4_allowed");
    expect(rendered.files).toContainEqual({ path: "/tmp/patterns/l4_allowed.lst", content: "10.0.0.10\n10.0.0.21\n" });
  });

  test("allows exactly the rule (method AND path AND peer), then denies with Envoy's 403 body", () => {
    expect(lines).toContain("acl e0_g0_m method -m str 'POST'");
    expect(lines).toContain("acl e0_g0_plit pathq -m str '/v1/request-landing'");
    expect(lines).toContain("http-request allow if e0_src e0_g0_m e0_g0_plit");
    const deny = lines.findIndex((l) => l.startsWith("http-request deny"));
    expect(lines[deny]).toBe('http-request deny deny_status 403 content-type text/plain string "Access denied\\r\\n"');
    expect(deny).toBeGreaterThan(lines.indexOf("http-request allow if e0_src e0_g0_m e0_g0_plit"));
  });

  test("regexes are anchored for a full match, as Envoy's RE2 FullMatch", () => {
    expect(anchor("/public/.*")).toBe("^(?:/public/.*)$");
  });
});

describe("groupRules", () => {
  test("rules differing only in path share one group; literal and regex paths are kept apart", () => {
    const groups = groupRules([
      { method: "GET", path: "/a" },
      { method: "GET", path: "/b/[0-9]+" },
      { method: "GET", path: "/c" },
      { method: "POST", path: "/a" },
      { method: "GET", path: "/x", headers: ["X-Token: 1"] },
    ]);
    expect(groups).toEqual([
      { method: "GET", host: undefined, headers: [], literalPaths: ["/a", "/c"], regexPaths: ["/b/[0-9]+"], anyPath: false },
      { method: "POST", host: undefined, headers: [], literalPaths: ["/a"], regexPaths: [], anyPath: false },
      { method: "GET", host: undefined, headers: [{ name: "X-Token", value: "1" }], literalPaths: ["/x"], regexPaths: [], anyPath: false },
    ]);
  });

  test("a rule without a path matches every path of its group", () => {
    expect(groupRules([{ method: "GET" }, { method: "GET", path: "/a" }])[0]?.anyPath).toBe(true);
  });
});

describe.skipIf(!haproxyAvailable && process.env.CI !== "true")("haproxy -c accepts the generated configuration", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bench-haproxy-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const count of [1, 10_000]) {
    test(`the benchmark policy with ${count} rule(s)`, async () => {
      const inv = parseEndpointsText(
        `endpoints:
  - {name: bench-client, namespace: default, labels: {role: bench-client}, ips: [10.77.0.2]}
  - {name: bench-upstream, namespace: default, labels: {app: bench-upstream}, ips: [10.77.0.3]}
`,
        "e.yaml",
      );
      const r = renderHaproxyConfig(portPolicyFor(policies(policyYaml(count)), inv, "bench-upstream", 80), {
        bind: "127.0.0.1:15999",
        server: "127.0.0.1:1",
        patternDir: dir,
      });
      for (const f of r.files) await writeFile(f.path, f.content);
      await writeFile(join(dir, "h.cfg"), r.config);
      const check = spawnSync("haproxy", ["-c", "-f", join(dir, "h.cfg")], { encoding: "utf8" });
      expect(check.stdout + check.stderr).toContain("Configuration file is valid");
      expect(check.status).toBe(0);
    });
  }
});

if (!haproxyAvailable && process.env.CI !== "true") console.warn("haproxy not installed: skipping the haproxy -c checks");
