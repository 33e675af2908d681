import { describe, expect, it } from "vitest";
import { canonicalIp, cidrContains, parseCidr, parseIp } from "../../../../src/policy/net/ip.js";

describe("IP addresses and CIDRs", () => {
  it("parses IPv4 and IPv6 and canonicalises them", () => {
    expect(parseIp("10.0.0.1")).toEqual({ family: 4, value: 0x0a000001 });
    expect(canonicalIp("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalIp("::1")).toBe("::1");
    expect(canonicalIp("fe80::1:0:0:1")).toBe("fe80::1:0:0:1");
    expect(canonicalIp("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(canonicalIp("64:ff9b::10.1.2.3")).toBe("64:ff9b::a01:203");
    expect(parseIp("10.0.0")).toBeUndefined();
    expect(parseIp("host")).toBeUndefined();
  });

  it("builds inclusive ranges, normalising host bits", () => {
    const r = parseCidr("10.1.2.3/16");
    expect(r).toMatchObject({ family: 4, start: 0x0a010000, end: 0x0a01ffff });
    expect(parseCidr("0.0.0.0/0")).toMatchObject({ start: 0, end: 0xffffffff });
    expect(parseCidr("192.0.2.7")).toMatchObject({ start: 0xc0000207, end: 0xc0000207 });
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("10.0.0.0/x")).toBeUndefined();
  });

  it("matches addresses of the same family only", () => {
    const v4 = parseCidr("10.0.0.0/8")!;
    const v6 = parseCidr("2001:db8::/32")!;
    expect(cidrContains(v4, parseIp("10.255.0.1")!)).toBe(true);
    expect(cidrContains(v4, parseIp("11.0.0.1")!)).toBe(false);
    expect(cidrContains(v4, parseIp("::ffff:10.0.0.1")!)).toBe(true);
    expect(cidrContains(v6, parseIp("2001:db8:ffff::1")!)).toBe(true);
    expect(cidrContains(v6, parseIp("2001:db9::1")!)).toBe(false);
    expect(cidrContains(v6, parseIp("10.0.0.1")!)).toBe(false);
  });
});
