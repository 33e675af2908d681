import { describe, expect, test } from "vitest";
import { renderNftScript, renderNftSetUpdate } from "../../../src/intercept/nft-rules.js";
import type { InterceptSpec } from "../../../src/intercept/rules-spec.js";

const spec: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  ingressIps: [],
  egressIps: ["10.0.0.5", "fd00::5"],
  dnsProxyPort: 15053,
  dnsRedirects: [
    { ip: "10.0.0.5", port: 53 },
    { ip: "fd00:0::5", port: 53 },
    { ip: "10.0.0.5", port: 5353 },
  ],
};

describe("DNS redirect rules", () => {
  test("UDP DNS of the listed (endpoint, port) pairs is TPROXY'd before the datagrams chain decides it", () => {
    const script = renderNftScript(spec);
    expect(script).toContain("set dns4 { type ipv4_addr . inet_service; elements = { 10.0.0.5 . 53, 10.0.0.5 . 5353 } }");
    expect(script).toContain("set dns6 { type ipv6_addr . inet_service; elements = { fd00::5 . 53 } }");
    const tproxy = script.indexOf("ip saddr . udp dport @dns4 tproxy ip to :15053 meta mark set 0x7e57 accept");
    expect(tproxy).toBeGreaterThan(0);
    expect(script.indexOf("ip6 saddr . udp dport @dns6 tproxy ip6 to :15053")).toBeGreaterThan(0);
    expect(tproxy).toBeLessThan(script.indexOf("meta l4proto != tcp goto datagrams"));
  });

  test("answers to the proxy's queries (sent from the pod's address) are delivered to its marked socket, not to the pod", () => {
    const script = renderNftScript({ ...spec, excludeMark: 0x80 });
    const rule = "meta l4proto udp ct direction reply socket transparent 1 socket mark 0x80 meta mark set 0x7e57 accept";
    expect(script).toContain(rule);
    // Before the datagrams chain, where replies are accepted (and so forwarded to the pod).
    expect(script.indexOf(rule)).toBeLessThan(script.indexOf("meta l4proto != tcp goto datagrams"));
    // Without the proxy's mark, any transparent socket bound to a specific address (never the listener's wildcard).
    expect(renderNftScript(spec)).toContain("meta l4proto udp ct direction reply socket transparent 1 socket wildcard 0 meta mark set 0x7e57 accept");
  });

  test("without a DNS port nothing is redirected", () => {
    const script = renderNftScript({ ...spec, dnsProxyPort: undefined });
    expect(script).not.toContain("tproxy ip to :15053");
    expect(script).not.toContain("meta l4proto udp ct direction reply socket transparent 1");
  });

  test("a set update refills the redirect sets in the same transaction", () => {
    const update = renderNftSetUpdate(spec);
    expect(update).toContain("flush set inet l7proxy dns4\nadd element inet l7proxy dns4 { 10.0.0.5 . 53, 10.0.0.5 . 5353 }");
    expect(update).toContain("flush set inet l7proxy dns6\nadd element inet l7proxy dns6 { fd00::5 . 53 }");
  });

  test("bad redirect entries are refused before anything is rendered", () => {
    expect(() => renderNftScript({ ...spec, dnsRedirects: [{ ip: "nope", port: 53 }] })).toThrow(/dnsRedirects/);
    expect(() => renderNftScript({ ...spec, dnsProxyPort: 0 })).toThrow(/dnsProxyPort/);
  });
});
