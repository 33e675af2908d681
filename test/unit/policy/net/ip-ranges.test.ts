import { describe, expect, it } from "vitest";
import { parseCidr } from "../../../../src/policy/net/ip.js";
import { type AddressRange, cidrToRange, fullRange, mergeRanges, rangeToCidrs, subtractRanges } from "../../../../src/policy/net/ip-ranges.js";

const r = (cidr: string): AddressRange => cidrToRange(parseCidr(cidr)!);
const cidrs = (ranges: AddressRange[]): string[] => ranges.flatMap(rangeToCidrs);

describe("address ranges", () => {
  it("turn a CIDR minus its excepts into the fewest prefixes", () => {
    expect(cidrs(subtractRanges([r("192.0.2.0/24")], [r("192.0.2.0/25")]))).toEqual(["192.0.2.128/25"]);
    expect(cidrs(subtractRanges([r("10.0.0.0/8")], [r("10.1.2.3/32")]))).toEqual([
      "10.0.0.0/16", "10.1.0.0/23", "10.1.2.0/31", "10.1.2.2/32", "10.1.2.4/30", "10.1.2.8/29", "10.1.2.16/28",
      "10.1.2.32/27", "10.1.2.64/26", "10.1.2.128/25", "10.1.3.0/24", "10.1.4.0/22", "10.1.8.0/21", "10.1.16.0/20",
      "10.1.32.0/19", "10.1.64.0/18", "10.1.128.0/17", "10.2.0.0/15", "10.4.0.0/14", "10.8.0.0/13", "10.16.0.0/12",
      "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9",
    ]);
    expect(cidrs(subtractRanges([r("2001:db8::/48")], [r("2001:db8:0:1::/64"), r("2001:db8:0:2::/63")]))).toEqual([
      "2001:db8::/64", "2001:db8:0:4::/62", "2001:db8:0:8::/61", "2001:db8:0:10::/60", "2001:db8:0:20::/59",
      "2001:db8:0:40::/58", "2001:db8:0:80::/57", "2001:db8:0:100::/56", "2001:db8:0:200::/55", "2001:db8:0:400::/54",
      "2001:db8:0:800::/53", "2001:db8:0:1000::/52", "2001:db8:0:2000::/51", "2001:db8:0:4000::/50", "2001:db8:0:8000::/49",
    ]);
  });

  it("keep excepts of another family or outside the range from changing anything", () => {
    expect(cidrs(subtractRanges([r("192.0.2.0/24")], [r("2001:db8::/32"), r("198.51.100.0/24")]))).toEqual(["192.0.2.0/24"]);
    expect(subtractRanges([r("192.0.2.0/24")], [r("192.0.0.0/16")])).toEqual([]);
  });

  it("merge overlapping and adjacent ranges, per family", () => {
    expect(cidrs(mergeRanges([r("10.0.1.0/24"), r("10.0.0.0/24"), r("10.0.0.128/25"), r("::/0")]))).toEqual(["10.0.0.0/23", "::/0"]);
    expect(cidrs(mergeRanges([fullRange(4), r("10.0.0.0/8")]))).toEqual(["0.0.0.0/0"]);
  });

  it("cover exactly an unaligned range", () => {
    expect(rangeToCidrs({ family: 4, start: 1n, end: 6n })).toEqual(["0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/31", "0.0.0.6/32"]);
    expect(rangeToCidrs(fullRange(6))).toEqual(["::/0"]);
  });
});
