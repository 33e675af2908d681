import { describe, expect, test } from "vitest";
import { renderNftScript, renderNftSetUpdate } from "../../../src/intercept/nft-rules.js";
import { datagramSets } from "../../../src/intercept/nft-datagram-rules.js";
import type { InterceptSpec } from "../../../src/intercept/rules-spec.js";
import { validateSpec } from "../../../src/intercept/rules-spec.js";

const spec: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  ingressIps: ["10.200.2.2", "fd00::2"],
  egressIps: ["10.200.1.2"],
  nonTcp: {
    endpointIps: ["10.200.2.2", "10.200.1.2", "fd00::2", "fd00:0::1"],
    allow: [
      { ip: "10.200.2.2", direction: "ingress", protocol: "UDP", portLo: 5353, portHi: 5353, endpointPeers: ["10.200.1.2/32"], otherPeers: ["192.0.2.0/25"] },
      { ip: "10.200.1.2", direction: "egress", protocol: "SCTP", portLo: 0, portHi: 65535, endpointPeers: ["0.0.0.0/0"], otherPeers: [] },
      { ip: "fd00::2", direction: "ingress", protocol: "UDP", portLo: 1000, portHi: 2000, endpointPeers: [], otherPeers: ["::/0"] },
    ],
    deny: [{ ip: "10.200.2.2", direction: "ingress", protocol: "UDP", portLo: 5353, portHi: 5353, endpointPeers: [], otherPeers: ["192.0.2.5/32"] }],
  },
};

const lines = (script: string): string[] => script.split("\n").map((l) => l.trim());
const set = (name: string) => datagramSets(spec).find((s) => s.name === name);

describe("non-TCP rules in the nftables table", () => {
  const rules = lines(renderNftScript(spec));

  test("send every non-TCP packet to the datagrams chain before any TCP rule", () => {
    expect(rules.indexOf("meta l4proto != tcp goto datagrams")).toBeGreaterThan(rules.indexOf("type filter hook prerouting priority -90; policy accept;"));
    expect(rules.indexOf("meta l4proto != tcp goto datagrams")).toBeLessThan(rules.findIndex((r) => r.includes("tproxy")));
  });

  test("let replies, related ICMP errors and IPv6 neighbour discovery through before deciding", () => {
    const start = rules.indexOf("chain datagrams {");
    expect(rules.slice(start + 1, start + 8)).toEqual([
      "ct direction reply accept",
      "ct state related accept",
      "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept",
      "ip daddr @ingress4 jump in4",
      "ip6 daddr @ingress6 jump in6",
      "ip saddr @egress4 jump eg4",
      "ip6 saddr @egress6 jump eg6",
    ]);
  });

  test("drop what is neither UDP nor SCTP (ICMP included), and pick the peer list by whether the peer is an endpoint", () => {
    const start = rules.indexOf("chain in4 {");
    expect(rules.slice(start + 1, start + 4)).toEqual(["meta l4proto != { udp, sctp } drop", "ip saddr @endpoint4 goto in4_ep", "goto in4_net"]);
    const eg = rules.indexOf("chain eg6 {");
    expect(rules.slice(eg + 1, eg + 4)).toEqual(["meta l4proto != { udp, sctp } drop", "ip6 daddr @endpoint6 goto eg6_ep", "goto eg6_net"]);
  });

  test("check deny before allow, and drop what no rule allows", () => {
    const start = rules.indexOf("chain in4_net {");
    expect(rules.slice(start + 1, start + 4)).toEqual([
      "ip daddr . meta l4proto . th dport . ip saddr @in4_net_deny drop",
      "ip daddr . meta l4proto . th dport . ip saddr @in4_net_allow return",
      "drop",
    ]);
    const eg = rules.indexOf("chain eg4_ep {");
    expect(rules[eg + 2]).toBe("ip saddr . meta l4proto . th dport . ip daddr @eg4_ep_allow return");
  });

  test("put each rule's peers in interval sets keyed by address, protocol, port and peer", () => {
    expect(rules).toContain(
      "set in4_ep_allow { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags interval; elements = { 10.200.2.2 . udp . 5353 . 10.200.1.2/32 } }",
    );
    expect(set("in4_net_allow")?.elements).toEqual(["10.200.2.2 . udp . 5353 . 192.0.2.0/25"]);
    expect(set("in4_net_deny")?.elements).toEqual(["10.200.2.2 . udp . 5353 . 192.0.2.5/32"]);
    expect(set("eg4_ep_allow")?.elements).toEqual(["10.200.1.2 . sctp . 0-65535 . 0.0.0.0/0"]);
    expect(set("in6_net_allow")?.elements).toEqual(["fd00::2 . udp . 1000-2000 . ::/0"]);
    expect(set("endpoint4")?.elements).toEqual(["10.200.1.2", "10.200.2.2"]);
    // Two spellings of one address are one element.
    expect(set("endpoint6")?.elements).toEqual(["fd00::1", "fd00::2"]);
    expect(rules).toContain("set eg6_net_deny { type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags interval; }");
  });

  test("allow nothing when the spec carries no non-TCP policy (fail closed)", () => {
    const { nonTcp: _none, ...bare } = spec;
    expect(datagramSets(bare).every((s) => s.elements.length === 0)).toBe(true);
    expect(lines(renderNftScript(bare))).toContain("chain in4_ep {");
  });

  test("are replaced with the addresses in one update transaction", () => {
    const update = lines(renderNftSetUpdate(spec));
    expect(update).toContain("flush set inet l7proxy in4_ep_allow");
    expect(update).toContain("add element inet l7proxy in4_ep_allow { 10.200.2.2 . udp . 5353 . 10.200.1.2/32 }");
    expect(update.indexOf("flush set inet l7proxy ingress4")).toBeLessThan(update.indexOf("flush set inet l7proxy in4_ep_allow"));
  });
});

describe("validateSpec for non-TCP rules", () => {
  const rule = spec.nonTcp!.allow[0]!;
  const invalid = (patch: object, list: "allow" | "deny" = "allow"): string => {
    try {
      validateSpec({ ...spec, nonTcp: { ...spec.nonTcp!, [list]: [{ ...rule, ...patch }] } });
    } catch (err) {
      return (err as Error).message;
    }
    return "accepted";
  };

  test("accepts the snapshot's shape", () => expect(() => validateSpec(spec)).not.toThrow());

  test("names the bad field", () => {
    expect(invalid({ ip: "10.0.0" })).toContain('nonTcp.allow[0].ip "10.0.0" is not an IP address');
    expect(invalid({ protocol: "ICMP" })).toContain("nonTcp.allow[0].protocol must be UDP or SCTP");
    expect(invalid({ portLo: 10, portHi: 9 })).toContain("ports 10-9 are not a range");
    expect(invalid({ portHi: 70000 })).toContain("ports 5353-70000 are not a range");
    expect(invalid({ otherPeers: ["2001:db8::/32"] }, "deny")).toContain('nonTcp.deny[0] has peer "2001:db8::/32", not an IPv4 CIDR');
    expect(invalid({ endpointPeers: ["10.0.0.1"] })).toContain('has peer "10.0.0.1", not an IPv4 CIDR');
    expect(invalid({ direction: "both" })).toContain("direction must be ingress or egress");
  });
});
