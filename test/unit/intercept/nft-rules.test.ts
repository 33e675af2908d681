import { describe, expect, test } from "vitest";
import { NFT_CHAIN_PRIORITY, renderNftDelete, renderNftScript, renderNftSetUpdate } from "../../../src/intercept/nft-rules.js";
import type { InterceptSpec } from "../../../src/intercept/rules-spec.js";

const spec: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  excludeMark: 0x7e58,
  ingressIps: ["10.200.2.2", "10.200.2.3", "fd00::2"],
  egressIps: ["10.200.1.2"],
};

const lines = (script: string): string[] => script.split("\n").map((l) => l.trim());

describe("renderNftScript", () => {
  const script = renderNftScript(spec);
  const rules = lines(script);

  test("replaces the table atomically, even when it does not exist yet", () => {
    expect(rules.slice(1, 4)).toEqual(["table inet l7proxy {}", "delete table inet l7proxy", "table inet l7proxy {"]);
  });

  test("hooks prerouting after dstnat, so DNATed Service traffic shows its endpoint", () => {
    expect(NFT_CHAIN_PRIORITY).toBeGreaterThan(-100);
    expect(rules).toContain(`type filter hook prerouting priority ${NFT_CHAIN_PRIORITY}; policy accept;`);
  });

  test("puts the enforced addresses in sets, per direction and family", () => {
    expect(rules).toContain("set ingress4 { type ipv4_addr; elements = { 10.200.2.2, 10.200.2.3 } }");
    expect(rules).toContain("set ingress6 { type ipv6_addr; elements = { fd00::2 } }");
    expect(rules).toContain("set egress4 { type ipv4_addr; elements = { 10.200.1.2 } }");
    expect(rules).toContain("set egress6 { type ipv6_addr; }");
  });

  test("redirects TCP to and from enforced addresses to the proxy port with the mark", () => {
    expect(rules).toContain("meta l4proto tcp ip daddr @ingress4 tproxy ip to :15001 meta mark set 0x7e57 accept");
    expect(rules).toContain("meta l4proto tcp ip6 daddr @ingress6 tproxy ip6 to :15001 meta mark set 0x7e57 accept");
    expect(rules).toContain("meta l4proto tcp ip saddr @egress4 tproxy ip to :15001 meta mark set 0x7e57 accept");
    expect(rules).toContain("meta l4proto tcp ip6 saddr @egress6 tproxy ip6 to :15001 meta mark set 0x7e57 accept");
    expect(rules.indexOf("meta l4proto != tcp goto datagrams")).toBeLessThan(rules.findIndex((r) => r.includes("tproxy")));
  });

  test("lets established, reply and proxy-marked packets pass before any redirect", () => {
    const firstRedirect = rules.findIndex((r) => r.includes("tproxy"));
    for (const rule of [
      "socket transparent 1 meta mark set 0x7e57 accept",
      "ct direction reply return",
      "meta mark & 0x7e58 == 0x7e58 return",
    ]) {
      expect(rules.indexOf(rule)).toBeGreaterThan(-1);
      expect(rules.indexOf(rule)).toBeLessThan(firstRedirect);
    }
  });

  test("rejects, after each redirect, what no proxy took (fail closed)", () => {
    const lastRedirect = rules.map((r) => r.includes("tproxy")).lastIndexOf(true);
    const rejects = rules.map((r, i) => [r, i] as const).filter(([r]) => r.endsWith("reject with tcp reset"));
    expect(rejects.map(([r]) => r)).toEqual([
      "meta l4proto tcp ip daddr @ingress4 reject with tcp reset",
      "meta l4proto tcp ip6 daddr @ingress6 reject with tcp reset",
      "meta l4proto tcp ip saddr @egress4 reject with tcp reset",
      "meta l4proto tcp ip6 saddr @egress6 reject with tcp reset",
    ]);
    for (const [, index] of rejects) expect(index).toBeGreaterThan(lastRedirect);
  });

  test("omits the exclude-mark rule when no exclude mark is configured", () => {
    const { excludeMark: _unused, ...withoutExclude } = spec;
    expect(renderNftScript(withoutExclude)).not.toContain("meta mark &");
  });

  test("uses the configured table name and port", () => {
    const other = renderNftScript({ ...spec, table: "proxy_b", proxyPort: 4000 });
    expect(other).toContain("table inet proxy_b {");
    expect(other).toContain("tproxy ip to :4000");
    expect(other).not.toContain("inet l7proxy");
  });
});

describe("renderNftSetUpdate", () => {
  test("flushes and refills every set in one script", () => {
    expect(lines(renderNftSetUpdate({ ...spec, ingressIps: ["10.0.0.1"], egressIps: [] }))).toEqual([
      "# l7proxy: replace the enforced addresses in table inet l7proxy",
      "flush set inet l7proxy ingress4",
      "add element inet l7proxy ingress4 { 10.0.0.1 }",
      "flush set inet l7proxy ingress6",
      "flush set inet l7proxy egress4",
      "flush set inet l7proxy egress6",
      // The non-TCP sets follow in the same transaction (nft-datagram-rules.test.ts).
      ...lines(renderNftSetUpdate({ ...spec, ingressIps: ["10.0.0.1"], egressIps: [] })).slice(6),
    ]);
    // 4 enforced-address sets, 18 datagram sets, 2 DNS redirect sets.
    expect(lines(renderNftSetUpdate(spec)).filter((l) => l.startsWith("flush set"))).toHaveLength(4 + 18 + 2);
  });
});

describe("renderNftDelete", () => {
  test("deletes the table whether or not it exists", () => {
    expect(renderNftDelete(spec)).toBe("table inet l7proxy {}\ndelete table inet l7proxy\n");
  });
});
