import { describe, expect, test } from "vitest";
import { iptablesChains, iptablesHooks, renderIptablesRestore, renderIptablesScript } from "../../../src/intercept/iptables-rules.js";
import type { InterceptSpec } from "../../../src/intercept/rules-spec.js";

const spec: InterceptSpec = {
  backend: "iptables",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  excludeMark: 0x7e58,
  ingressIps: ["10.200.2.2", "fd00::2"],
  egressIps: ["10.200.1.2"],
};

describe("renderIptablesRestore", () => {
  const v4 = renderIptablesRestore(spec, 4).split("\n");
  const v6 = renderIptablesRestore(spec, 6).split("\n");

  test("declares (and so flushes) only l7proxy's own chains", () => {
    expect(v4.filter((l) => l.startsWith(":"))).toEqual([":L7PROXY-PRE - [0:0]", ":L7PROXY-DIV - [0:0]", ":L7PROXY-DNS - [0:0]", ":L7PROXY-FWD - [0:0]", ":L7PROXY-DGM - [0:0]"]);
    expect(v4.some((l) => l.startsWith("-A PREROUTING") || l.startsWith("-A FORWARD"))).toBe(false);
    // Without DNS redirects the DNS chain exists (the hook jumps to it) and is empty.
    expect(v4.filter((l) => l.startsWith("-A L7PROXY-DNS"))).toEqual([]);
  });

  test("redirects enforced addresses with TPROXY and the mark, per family", () => {
    const tproxy = "-j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x7e57/0xffffffff";
    expect(v4).toContain(`-A L7PROXY-PRE -p tcp -d 10.200.2.2/32 ${tproxy}`);
    expect(v4).toContain(`-A L7PROXY-PRE -p tcp -s 10.200.1.2/32 ${tproxy}`);
    expect(v4.join("\n")).not.toContain("fd00::2");
    expect(v6).toContain("-A L7PROXY-PRE -p tcp -d fd00::2/128 -j TPROXY --on-port 15001 --on-ip :: --tproxy-mark 0x7e57/0xffffffff");
  });

  test("passes transparent-socket, reply and proxy-marked packets before redirecting", () => {
    const first = v4.findIndex((l) => l.includes("TPROXY"));
    for (const rule of [
      "-A L7PROXY-PRE -p tcp -m socket --transparent -j L7PROXY-DIV",
      "-A L7PROXY-PRE -m conntrack --ctdir REPLY -j RETURN",
      "-A L7PROXY-PRE -m mark --mark 0x7e58/0x7e58 -j RETURN",
    ]) {
      expect(v4.indexOf(rule)).toBeGreaterThan(-1);
      expect(v4.indexOf(rule)).toBeLessThan(first);
    }
    expect(v4).toContain("-A L7PROXY-DIV -j MARK --set-xmark 0x7e57/0xffffffff");
  });

  test("an egress-enforced client's established connections are marked for the local route, not TPROXY'd (a VIP's DNAT comes after)", () => {
    const divert = "-A L7PROXY-PRE -p tcp -s 10.200.1.2/32 -m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -j L7PROXY-DIV";
    expect(v4.indexOf(divert)).toBeGreaterThan(-1);
    expect(v4.indexOf(divert)).toBeLessThan(v4.findIndex((l) => l.includes("TPROXY")));
    // Ingress: the destination before DNAT is the VIP, never the enforced address.
    expect(v4.some((l) => l.includes("-d 10.200.2.2/32 -m conntrack --ctstate ESTABLISHED"))).toBe(false);
  });

  test("rejects forwarded connections that escaped the redirect (Service VIPs DNATed after mangle)", () => {
    expect(v4).toContain("-A L7PROXY-FWD -p tcp -d 10.200.2.2/32 -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset");
    expect(v4).toContain("-A L7PROXY-FWD -p tcp -s 10.200.1.2/32 -m conntrack --ctdir ORIGINAL -j REJECT --reject-with tcp-reset");
  });

  test("drops non-TCP to and from enforced addresses, except replies, related errors and IPv6 neighbour discovery", () => {
    const dgm = v4.filter((l) => l.startsWith("-A L7PROXY-DGM"));
    expect(dgm).toEqual([
      "-A L7PROXY-DGM -m conntrack --ctdir REPLY -j RETURN",
      "-A L7PROXY-DGM -m conntrack --ctstate RELATED -j RETURN",
      "-A L7PROXY-DGM -d 10.200.2.2/32 -j DROP",
      "-A L7PROXY-DGM -s 10.200.1.2/32 -j DROP",
    ]);
    const dgm6 = v6.filter((l) => l.startsWith("-A L7PROXY-DGM"));
    expect(dgm6).toContain("-A L7PROXY-DGM -p ipv6-icmp --icmpv6-type neighbour-solicitation -j RETURN");
    expect(dgm6.at(-1)).toBe("-A L7PROXY-DGM -d fd00::2/128 -j DROP");
  });

  test("commits each table", () => {
    expect(v4.filter((l) => l === "COMMIT")).toHaveLength(2);
    expect(v4[0]).toBe("*mangle");
  });
});

describe("DNS over UDP to the DNS proxy", () => {
  const dns: InterceptSpec = {
    ...spec,
    egressIps: ["10.200.1.2", "10.200.1.3", "fd00::12"],
    dnsProxyPort: 15053,
    dnsRedirects: [
      { ip: "10.200.1.2", port: 53 },
      { ip: "10.200.1.2", port: 5353 },
      { ip: "10.200.1.3", port: 53 },
      { ip: "10.200.1.3", port: 53 },
      { ip: "fd00:0::12", port: 53 },
    ],
  };
  const v4 = renderIptablesRestore(dns, 4).split("\n");
  const v6 = renderIptablesRestore(dns, 6).split("\n");
  const chain = (lines: string[], name: string) => lines.filter((l) => l.startsWith(`-A ${name} `));

  test("answers to the proxy's upstream sockets are delivered to them, then each (address, port) is TPROXY'd to the DNS port", () => {
    const restore = "-m conntrack --ctdir REPLY -m socket --transparent --restore-skmark -m mark --mark 0x7e58/0x7e58 -j L7PROXY-DIV";
    const tproxy = "-j TPROXY --on-port 15053 --on-ip 0.0.0.0 --tproxy-mark 0x7e57/0xffffffff";
    expect(chain(v4, "L7PROXY-DNS")).toEqual([
      `-A L7PROXY-DNS -d 10.200.1.2/32 ${restore}`,
      `-A L7PROXY-DNS -d 10.200.1.3/32 ${restore}`,
      "-A L7PROXY-DNS -m conntrack --ctdir REPLY -j RETURN",
      "-A L7PROXY-DNS -m mark --mark 0x7e58/0x7e58 -j RETURN",
      `-A L7PROXY-DNS -s 10.200.1.2/32 -p udp --dport 53 ${tproxy}`,
      `-A L7PROXY-DNS -s 10.200.1.2/32 -p udp --dport 5353 ${tproxy}`,
      `-A L7PROXY-DNS -s 10.200.1.3/32 -p udp --dport 53 ${tproxy}`,
    ]);
    expect(chain(v6, "L7PROXY-DNS")).toEqual([
      `-A L7PROXY-DNS -d fd00::12/128 ${restore}`,
      "-A L7PROXY-DNS -m conntrack --ctdir REPLY -j RETURN",
      "-A L7PROXY-DNS -m mark --mark 0x7e58/0x7e58 -j RETURN",
      "-A L7PROXY-DNS -s fd00::12/128 -p udp --dport 53 -j TPROXY --on-port 15053 --on-ip :: --tproxy-mark 0x7e57/0xffffffff",
    ]);
  });

  test("the datagrams chain lets the TPROXY'd queries through, before it drops the endpoint's other UDP", () => {
    const dgm = chain(v4, "L7PROXY-DGM");
    const pass2 = dgm.indexOf("-A L7PROXY-DGM -s 10.200.1.2/32 -p udp -m mark --mark 0x7e57/0xffffffff -j RETURN");
    const pass3 = dgm.indexOf("-A L7PROXY-DGM -s 10.200.1.3/32 -p udp -m mark --mark 0x7e57/0xffffffff -j RETURN");
    expect(pass2).toBeGreaterThan(-1);
    expect(pass3).toBeGreaterThan(-1);
    expect(dgm.indexOf("-A L7PROXY-DGM -s 10.200.1.2/32 -j DROP")).toBeGreaterThan(Math.max(pass2, pass3));
    expect(chain(v6, "L7PROXY-DGM")).toContain("-A L7PROXY-DGM -s fd00::12/128 -p udp -m mark --mark 0x7e57/0xffffffff -j RETURN");
  });

  test("without excludeMark, any transparent socket bound to the endpoint's address takes its answers", () => {
    const { excludeMark: _, ...unmarked } = dns;
    const lines = chain(renderIptablesRestore(unmarked, 4).split("\n"), "L7PROXY-DNS");
    expect(lines[0]).toBe("-A L7PROXY-DNS -d 10.200.1.2/32 -m conntrack --ctdir REPLY -m socket --transparent -j L7PROXY-DIV");
    expect(lines.join("\n")).not.toContain("restore-skmark");
    expect(lines.join("\n")).not.toContain("-m mark");
  });

  test("no DNS proxy port: no redirect, and no hole in the datagrams chain", () => {
    const { dnsProxyPort: _, ...off } = dns;
    const lines = renderIptablesRestore(off, 4);
    expect(lines).not.toContain("TPROXY --on-port 15053");
    expect(lines).not.toMatch(/-A L7PROXY-DNS/);
    expect(lines).not.toMatch(/-A L7PROXY-DGM .*-m mark/);
  });

  test("the printed script shows the DNS rules and the UDP hook", () => {
    const script = renderIptablesScript(dns);
    expect(script).toContain("-A L7PROXY-DNS -s 10.200.1.3/32 -p udp --dport 53 -j TPROXY --on-port 15053");
    expect(script).toContain("# unless present: ip6tables -t mangle -I PREROUTING 1 -p udp -j L7PROXY-DNS");
  });
});

describe("hooks and names", () => {
  test("chain names derive from the table name", () => {
    expect(iptablesChains({ ...spec, table: "proxy_b" })).toEqual({
      prerouting: "PROXY_B-PRE",
      divert: "PROXY_B-DIV",
      forward: "PROXY_B-FWD",
      datagrams: "PROXY_B-DGM",
      dns: "PROXY_B-DNS",
    });
  });

  test("jumps into the chains from PREROUTING (mangle) for TCP and UDP, FORWARD (filter) for TCP, FORWARD and INPUT for the rest", () => {
    expect(iptablesHooks(spec)).toEqual([
      { table: "mangle", chain: "PREROUTING", rule: ["-p", "tcp", "-j", "L7PROXY-PRE"] },
      { table: "mangle", chain: "PREROUTING", rule: ["-p", "udp", "-j", "L7PROXY-DNS"] },
      { table: "filter", chain: "FORWARD", rule: ["-p", "tcp", "-j", "L7PROXY-FWD"] },
      { table: "filter", chain: "FORWARD", rule: ["!", "-p", "tcp", "-j", "L7PROXY-DGM"] },
      { table: "filter", chain: "INPUT", rule: ["!", "-p", "tcp", "-j", "L7PROXY-DGM"] },
    ]);
  });

  test("the printable script holds both families and the hook commands", () => {
    const script = renderIptablesScript(spec);
    expect(script).toContain("# iptables-restore --noflush <<'EOF'");
    expect(script).toContain("# ip6tables-restore --noflush <<'EOF'");
    expect(script).toContain("# unless present: iptables -t mangle -I PREROUTING 1 -p tcp -j L7PROXY-PRE");
  });
});
