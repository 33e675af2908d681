// `l7proxy rules print` renders the interception rules for the enforced endpoints of the
// given policies, without touching the kernel.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");
const CLI = join(ROOT, "dist/cli/main.js");
const SW = join(ROOT, "proxy-config/starwars");

function rules(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, "rules", ...args], { encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe("l7proxy rules", () => {
  it("print redirects only the endpoints the policy enforces", () => {
    const r = rules(["print", "--policies", join(SW, "l7-policy.yaml"), "--endpoints", join(SW, "endpoints.yaml")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("table inet l7proxy");
    expect(r.out).toContain("tproxy");
    // Only the deathstars' ingress is enforced; the ships have no policy selecting them.
    expect(r.out).toContain("set ingress4 { type ipv4_addr; elements = { 10.200.0.11, 10.200.0.12 } }");
    expect(r.out).toContain("set egress4 { type ipv4_addr; }");
    expect(r.out).toMatch(/ip -4 rule add fwmark/);
  });

  it("print follows --proxy-port, --mark and --nft-table", () => {
    const r = rules(["print", "--policies", join(SW, "l4-policy.yaml"), "--endpoints", join(SW, "endpoints.yaml"), "--proxy-port", "16001", "--mark", "4660", "--nft-table", "mytable"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("table inet mytable");
    expect(r.out).toContain(":16001");
    expect(r.out).toContain("meta mark set 0x1234");
  });

  it("print with --rules-backend iptables shows the DNS redirects of endpoints with DNS rules", () => {
    const r = rules([
      "print", "--rules-backend", "iptables",
      "--policies", join(ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml"),
      "--endpoints", join(ROOT, "test/fixtures/e2e/dns-iptables-endpoints.yaml"),
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("-A L7PROXY-DNS -s 10.215.0.10/32 -p udp --dport 53 -j TPROXY --on-port 15053 --on-ip 0.0.0.0");
    expect(r.out).toContain("-A L7PROXY-DNS -s fd00:215::10/128 -p udp --dport 53 -j TPROXY --on-port 15053 --on-ip ::");
    expect(r.out).toContain("-A L7PROXY-DGM -s 10.215.0.10/32 -p udp -m mark --mark 0x7e57/0xffffffff -j RETURN");
    expect(r.out).toContain("# unless present: iptables -t mangle -I PREROUTING 1 -p udp -j L7PROXY-DNS");
  });

  it("an invalid policy is reported with its position and exit 1", () => {
    const r = rules(["print", "--policies", join(ROOT, "test/fixtures/e2e/shop-endpoints.yaml"), "--policies", "/nonexistent.yaml"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/nonexistent.yaml");
  });

  it("usage errors exit 2", () => {
    expect(rules([]).code).toBe(2);
    expect(rules(["frobnicate"]).code).toBe(2);
    expect(rules(["print", "--bogus"]).code).toBe(2);
    expect(rules(["--help"]).code).toBe(0);
  });
});
