// `l7proxy check` end to end in-process: real files (proxy-config/starwars and temporary
// ones), real loader and compiler; stdout/stderr captured.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/check.js";

const starwars = path.resolve(import.meta.dirname, "../../../proxy-config/starwars");
const L4 = path.join(starwars, "l4-policy.yaml");
const L7 = path.join(starwars, "l7-policy.yaml");
const EPS = path.join(starwars, "endpoints.yaml");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("l7proxy check", () => {
  it("prints ALLOWED and the deciding policy for the tiefighter at L3/L4 (exit 0)", async () => {
    const r = await run(["--policies", L4, "--endpoints", EPS, "--from", "default/tiefighter", "--to", "default/deathstar-1", "--port", "80"]);
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toBe("ALLOWED");
    expect(r.out).toContain("egress  (source):      allowed: no policy selects this endpoint");
    expect(r.out).toContain("ingress (destination): allowed at L3/L4 by default/rule1 rule 0 (ingress[0].toPorts[0])");
  });

  it("prints DENIED with default deny for the xwing (exit 1)", async () => {
    const r = await run(["--policies", L4, "--endpoints", EPS, "--from", "default/xwing", "--to", "10.200.0.12", "--port", "80/tcp"]);
    expect(r.code).toBe(1);
    expect(r.out.split("\n")[0]).toBe("DENIED");
    expect(r.out).toContain("denied: default deny");
  });

  it("decides an HTTP request at L7", async () => {
    const base = ["--policies", L7, "--endpoints", EPS, "--from", "default/tiefighter", "--to", "default/deathstar-2", "--port", "80"];
    const ok = await run([...base, "--http-method", "POST", "--http-path", "/v1/request-landing"]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("allowed at L7 by default/rule1 rule 0 (ingress[0].toPorts[0].rules.http[0])");
    const denied = await run([...base, "--http-method", "PUT", "--http-path", "/v1/exhaust-port"]);
    expect(denied.code).toBe(1);
    expect(denied.out).toMatch(/^DENIED\n/);
    expect(denied.out).toContain("denied at L7 by default/rule1: none of its rules matches the request");
  });

  it("accepts several policy paths and prints JSON", async () => {
    const r = await run(["--policies", L4, L7, "--endpoints", EPS, "--from", "default/tiefighter", "--to", "default/deathstar-1", "--port", "80", "--http-path", "/anything", "--json"]);
    const j = JSON.parse(r.out) as { verdict: string; allowed: boolean; l7: string; ingress: { decidedBy: { layer: string } } };
    // The L4-only rule of l4-policy.yaml allows every request while the port stays visible.
    expect(j.verdict).toBe("ALLOWED");
    expect(j.l7).toBe("http");
    expect(j.ingress.decidedBy.layer).toBe("l3-l4");
    expect(r.code).toBe(0);
  });

  it("uses --fqdn-ip for toFQDNs and decides Kafka and DNS requests", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "l7p-check-"));
    writeFileSync(
      path.join(dir, "p.yaml"),
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fqdn}
spec:
  endpointSelector: {matchLabels: {app: c}}
  egress:
  - toFQDNs: [{matchName: api.example.com}]
  - toEndpoints: [{matchLabels: {app: dns}}]
    toPorts: [{ports: [{port: "53", protocol: UDP}], rules: {dns: [{matchPattern: "*.example.com"}]}}]
  - toEndpoints: [{matchLabels: {app: kafka}}]
    toPorts: [{ports: [{port: "9092", protocol: TCP}], rules: {kafka: [{role: produce, topic: t1}]}}]
`,
    );
    writeFileSync(
      path.join(dir, "e.yaml"),
      `endpoints:
  - {name: c, labels: {app: c}, ips: [10.9.0.2]}
  - {name: dns, labels: {app: dns}, ips: [10.9.0.53]}
  - {name: kafka, labels: {app: kafka}, ips: [10.9.0.92]}
`,
    );
    const common = ["--policies", path.join(dir, "p.yaml"), "--endpoints", path.join(dir, "e.yaml"), "--from", "default/c"];
    expect((await run([...common, "--to", "203.0.113.7", "--port", "443"])).code).toBe(1);
    expect((await run([...common, "--to", "203.0.113.7", "--port", "443", "--fqdn-ip", "api.example.com=203.0.113.7"])).code).toBe(0);
    expect((await run([...common, "--to", "default/dns", "--port", "53/udp", "--dns-query", "www.example.com"])).code).toBe(0);
    expect((await run([...common, "--to", "default/dns", "--port", "53/udp", "--dns-query", "example.org"])).code).toBe(1);
    expect((await run([...common, "--to", "default/kafka", "--port", "9092", "--kafka-api-key", "produce", "--kafka-topic", "t1"])).code).toBe(0);
    expect((await run([...common, "--to", "default/kafka", "--port", "9092", "--kafka-api-key", "0", "--kafka-topic", "t1", "--kafka-topic", "t2"])).code).toBe(1);
  });

  it("exits 2 on usage errors", async () => {
    expect((await run(["--endpoints", EPS, "--from", "default/xwing", "--to", "default/deathstar-1", "--port", "80"])).code).toBe(2);
    expect((await run(["--policies", L4, "--endpoints", EPS, "--from", "default/nobody", "--to", "default/deathstar-1", "--port", "80"])).code).toBe(2);
    expect((await run(["--policies", L4, "--endpoints", EPS, "--from", "default/xwing", "--to", "default/deathstar-1", "--port", "80/icmp"])).code).toBe(2);
    expect((await run(["--policies", L4, "--from", "default/xwing", "--to", "10.0.0.1", "--port", "80", "--bogus"])).code).toBe(2);
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Usage: l7proxy check");
  });

  it("exits 2 and prints diagnostics for invalid policy files", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "l7p-check-"));
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoint: [{}]\n");
    const r = await run(["--policies", bad, "--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "80"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:7:\\d+: `));
    expect(r.out).toBe("");
  });

  it("exits 2 on an invalid endpoints file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "l7p-check-"));
    const bad = path.join(dir, "e.yaml");
    writeFileSync(bad, "endpoints:\n  - name: a\n    ips: [not-an-ip]\n");
    const r = await run(["--policies", L4, "--endpoints", bad, "--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "80"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:3:11: endpoints[0].ips[0]: not an IP address`);
  });

  describe("--secret for secret-backed headerMatches", () => {
    const VALUE = "s3cret-tok3n";
    function files(): { policy: string; eps: string } {
      const dir = mkdtempSync(path.join(tmpdir(), "l7p-check-"));
      const policy = path.join(dir, "p.yaml");
      writeFileSync(
        policy,
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: api, namespace: shop}\nspec:\n" +
          "  endpointSelector: {matchLabels: {app: api}}\n" +
          "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n      rules:\n        http:\n" +
          "        - {path: /read, headerMatches: [{name: X-Token, secret: {name: api-token}}]}\n" +
          "        - {path: /tag, headerMatches: [{name: X-Tag, secret: {name: tag}, mismatch: REPLACE}]}\n",
      );
      const eps = path.join(dir, "e.yaml");
      writeFileSync(eps, "endpoints:\n  - {name: api, namespace: shop, labels: {app: api}, ips: [10.9.0.2]}\n  - {name: web, namespace: shop, labels: {app: web}, ips: [10.9.0.3]}\n");
      return { policy, eps };
    }
    const base = (f: { policy: string; eps: string }) => ["--policies", f.policy, "--endpoints", f.eps, "--from", "shop/web", "--to", "shop/api", "--port", "80"];
    const all = (r: { out: string; err: string }) => r.out + r.err;

    it("allows the Secret's value and denies others, never printing the value", async () => {
      const f = files();
      const secrets = ["--secret", `shop/api-token=${VALUE}`, "--secret", "shop/tag=blue"];
      const ok = await run([...base(f), ...secrets, "--http-path", "/read", "--http-header", `X-Token: ${VALUE}`]);
      expect(ok.code).toBe(0);
      expect(ok.out).toContain("allowed at L7 by shop/api rule 0 (ingress[0].toPorts[0].rules.http[0])");
      expect(all(ok)).not.toContain(VALUE);
      const wrong = await run([...base(f), ...secrets, "--http-path", "/read", "--http-header", "X-Token: guess"]);
      expect(wrong.code).toBe(1);
      expect(all(wrong)).not.toContain(VALUE);
    });

    it("prints header actions with secret values as [redacted], in text and JSON", async () => {
      const f = files();
      const secrets = ["--secret", `shop/api-token=${VALUE}`, "--secret", `shop/tag=${VALUE}-tag`];
      const text = await run([...base(f), ...secrets, "--http-path", "/tag"]);
      expect(text.code).toBe(0);
      expect(text.out).toContain("header replace: X-Tag: [redacted]");
      expect(all(text)).not.toContain(VALUE);
      const json = await run([...base(f), ...secrets, "--http-path", "/tag", "--http-header", "X-Tag: red", "--json"]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.out).request.headerOps).toEqual([{ op: "replace", name: "X-Tag", value: "[redacted]", secret: true }]);
      expect(all(json)).not.toContain(VALUE);
    });

    it("without --secret the match fails closed and the warning says how to supply the Secret", async () => {
      const f = files();
      const r = await run([...base(f), "--http-path", "/read", "--http-header", `X-Token: ${VALUE}`]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("secret shop/api-token is not available: Secrets are read only by run --kubernetes (check takes --secret)");
      // A --secret for another Secret leaves this one missing, and the warning names it.
      const other = await run([...base(f), "--secret", `shop/tag=${VALUE}`, "--http-path", "/read", "--http-header", `X-Token: ${VALUE}`]);
      expect(other.code).toBe(1);
      expect(other.err).toContain("secret shop/api-token is not available (missing");
      expect(all(other)).not.toContain(VALUE);
    });

    it("rejects malformed and repeated --secret without echoing the value (exit 2)", async () => {
      const f = files();
      for (const bad of [VALUE, `api-token=${VALUE}`, `/api-token=${VALUE}`, `shop/=${VALUE}`]) {
        const r = await run([...base(f), "--secret", bad]);
        expect(r.code, bad).toBe(2);
        expect(r.err).toContain("expected NS/NAME=VALUE");
        expect(r.err).not.toContain(VALUE);
      }
      const twice = await run([...base(f), "--secret", `shop/a=${VALUE}`, "--secret", `shop/a=${VALUE}`]);
      expect(twice.code).toBe(2);
      expect(twice.err).toContain("--secret shop/a given twice");
      expect(twice.err).not.toContain(VALUE);
      expect((await run(["--help"])).out).toContain("--secret NS/NAME=VALUE");
    });
  });
});

describe("l7proxy check decides on the normalized path, as the data path does", () => {
  const base = ["--policies", L7, "--endpoints", EPS, "--from", "default/tiefighter", "--to", "default/deathstar-1", "--port", "80", "--http-method", "POST"];

  it("dot segments are removed before deciding", async () => {
    const r = await run([...base, "--http-path", "/v1/x/../request-landing"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("path normalized to /v1/request-landing");
  });

  it("a path that only matches before normalization is denied", async () => {
    const r = await run([...base, "--http-path", "/v1/request-landing/../exhaust-port"]);
    expect(r.code).toBe(1);
  });

  it("a malformed escape is refused with the proxy's 400", async () => {
    const r = await run([...base, "--http-path", "/v1/%zz"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("the proxy answers 400");
  });
});
