import { describe, expect, it } from "vitest";
import { canonicalIp, checkCidr, cidrContains, cidrCovers, hostRange, parseCidr, parseIp } from "../../../../src/policy/net/ip.js";

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
    expect(parseCidr("192.0.2.7/32")).toMatchObject({ start: 0xc0000207, end: 0xc0000207, bits: 32 });
    expect(parseCidr("2001:db8::1/32")).toMatchObject({ family: 6, start: 0x20010db8n << 96n, bits: 32 });
    expect(parseCidr("::/0")).toMatchObject({ family: 6, start: 0n, end: (1n << 128n) - 1n });
  });

  it("needs a decimal prefix length in range, as Go's net.ParseCIDR", () => {
    expect(checkCidr("192.0.2.7")).toBe('invalid CIDR "192.0.2.7": a prefix length is required (e.g. 192.0.2.7/32)');
    expect(checkCidr("2001:db8::1")).toBe('invalid CIDR "2001:db8::1": a prefix length is required (e.g. 2001:db8::1/128)');
    for (const bad of ["10.0.0.0/33", "10.0.0.0/x", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/1000", "::/129", "10.0.0.0/8/8", "10.0.0.0/ 8"]) {
      expect(checkCidr(bad), bad).toMatch(/prefix length must be 0\.\.(32|128)$/);
      expect(parseCidr(bad), bad).toBeUndefined();
    }
    for (const bad of ["10.0.0/8", "010.0.0.0/8", "10.0.0.256/8", "host/8", "/8", "1::2::3/64", "[::1]/128", " 10.0.0.0/8"]) {
      expect(checkCidr(bad), bad).toMatch(/not an IP address$/);
    }
  });

  it("refuses IPv6 zones in addresses and CIDRs", () => {
    expect(parseIp("fe80::1%eth0")).toBeUndefined();
    expect(canonicalIp("fe80::1%eth0")).toBeUndefined();
    expect(parseIp("fe80::1")).toEqual({ family: 6, value: (0xfe80n << 112n) | 1n });
    expect(checkCidr("fe80::%eth0/64")).toBe('invalid CIDR "fe80::%eth0/64": an IPv6 zone is not allowed');
  });

  it("reads IPv4-mapped addresses and prefixes as IPv4, however they are spelled", () => {
    for (const t of ["::ffff:10.1.2.3", "::FFFF:10.1.2.3", "::ffff:a01:203", "0:0:0:0:0:ffff:10.1.2.3"]) {
      expect(parseIp(t), t).toEqual({ family: 4, value: 0x0a010203 });
    }
    expect(parseCidr("::ffff:10.0.0.0/104")).toMatchObject({ family: 4, start: 0x0a000000, end: 0x0affffff, bits: 8 });
    expect(parseCidr("::ffff:10.1.2.3/128")).toMatchObject({ family: 4, start: 0x0a010203, end: 0x0a010203, bits: 32 });
    expect(parseCidr("::ffff:0.0.0.0/96")).toMatchObject({ family: 4, start: 0, end: 0xffffffff, bits: 0 });
    // A shorter prefix covers more than the mapped block: it stays IPv6.
    expect(parseCidr("::ffff:0:0/95")).toMatchObject({ family: 6, bits: 95 });
    // Other embeddings of IPv4 (NAT64, IPv4-compatible) are IPv6 addresses.
    expect(parseIp("64:ff9b::10.1.2.3")?.family).toBe(6);
    expect(parseIp("::10.1.2.3")?.family).toBe(6);
  });

  it("gives an address's one-address range", () => {
    expect(hostRange("192.0.2.7")).toMatchObject({ family: 4, start: 0xc0000207, end: 0xc0000207, bits: 32 });
    expect(hostRange("::ffff:192.0.2.7")).toMatchObject({ family: 4, start: 0xc0000207, bits: 32 });
    expect(hostRange("2001:db8::1")).toMatchObject({ family: 6, start: (0x20010db8n << 96n) | 1n, bits: 128 });
    expect(hostRange("192.0.2.7/32")).toBeUndefined();
    expect(hostRange("fe80::1%eth0")).toBeUndefined();
  });

  it("tells whether one prefix lies inside another", () => {
    const c = (t: string) => parseCidr(t)!;
    expect(cidrCovers(c("10.0.0.0/8"), c("10.1.0.0/16"))).toBe(true);
    expect(cidrCovers(c("10.0.0.0/8"), c("10.0.0.0/8"))).toBe(true);
    expect(cidrCovers(c("10.0.0.0/8"), c("11.0.0.0/16"))).toBe(false);
    expect(cidrCovers(c("10.1.0.0/16"), c("10.0.0.0/8"))).toBe(false);
    expect(cidrCovers(c("10.0.0.0/8"), c("::ffff:10.1.0.0/112"))).toBe(true);
    expect(cidrCovers(c("::/0"), c("10.0.0.0/8"))).toBe(false);
  });

  it("matches addresses of the same family only", () => {
    const v4 = parseCidr("10.0.0.0/8")!;
    const v6 = parseCidr("2001:db8::/32")!;
    expect(cidrContains(v4, parseIp("10.255.0.1")!)).toBe(true);
    expect(cidrContains(v4, parseIp("11.0.0.1")!)).toBe(false);
    expect(cidrContains(v4, parseIp("::ffff:10.0.0.1")!)).toBe(true);
    expect(cidrContains(parseCidr("::ffff:10.0.0.0/104")!, parseIp("10.0.0.1")!)).toBe(true);
    expect(cidrContains(v6, parseIp("2001:db8:ffff::1")!)).toBe(true);
    expect(cidrContains(v6, parseIp("2001:db9::1")!)).toBe(false);
    expect(cidrContains(v6, parseIp("10.0.0.1")!)).toBe(false);
  });
});
