import { describe, expect, it } from "vitest";
import { cnp, errorsOf, expectDiagnostic } from "./diagnose.js";

describe("peers", () => {
  it("rejects two L3 peer kinds in one rule, as Cilium does", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toEndpoints: [{matchLabels: {app: a}}]
  toCIDR: [10.0.0.0/8]`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR", message: "combining toEndpoints and toCIDR is not supported yet", at: "toCIDR" });
  });

  it("allows an empty peer list next to another peer kind (it counts as absent)", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- fromEndpoints: []
  fromEntities: [world]`);
    expect(errorsOf(text)).toEqual([]);
  });

  it("rejects invalid CIDRs, bare IPs and out-of-range prefixes", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toCIDR: [10.0.0.1, 10.0.0.0/33, "fd00::/129", 300.1.1.1/8]`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR[0]", message: "a prefix length is required", at: "10.0.0.1", code: "L7P_ERR_POLICY_CIDR" });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR[1]", message: "prefix length must be 0..32", at: "10.0.0.0/33" });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR[2]", message: "prefix length must be 0..128", at: '"fd00::/129"' });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR[3]", message: "not an IP address", at: "300.1.1.1/8" });
  });

  it("rejects an except outside its CIDR and a CIDR set entry with two sources", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- fromCIDRSet:
  - cidr: 10.0.0.0/8
    except: [10.1.0.0/16, 192.168.0.0/16]
  - cidr: 10.0.0.0/8
    cidrGroupRef: group-a`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].fromCIDRSet[0].except[1]", message: "does not contain exclude CIDR prefix 192.168.0.0/16", at: "192.168.0.0/16" });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].fromCIDRSet[1]", message: "exactly one of cidr, cidrGroupRef, cidrGroupSelector is required", at: "cidr: 10.0.0.0/8", nth: 1 });
  });

  it("rejects IPv6 zones in CIDRs, as Go's net.ParseCIDR", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toCIDR: ["fe80::%eth0/64"]`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toCIDR[0]", message: "an IPv6 zone is not allowed", at: '"fe80::%eth0/64"', code: "L7P_ERR_POLICY_CIDR" });
  });

  it("takes an IPv4-mapped except as the IPv4 prefix it names", () => {
    const inside = cnp(`endpointSelector: {}
egress:
- toCIDRSet:
  - cidr: 10.0.0.0/8
    except: ["::ffff:10.1.0.0/112"]`);
    expect(errorsOf(inside)).toEqual([]);
    const outside = cnp(`endpointSelector: {}
egress:
- toCIDRSet:
  - cidr: 10.0.0.0/8
    except: ["::ffff:11.0.0.0/104"]`);
    expectDiagnostic(outside, { fieldPath: "spec.egress[0].toCIDRSet[0].except[0]", message: "does not contain exclude CIDR prefix ::ffff:11.0.0.0/104", at: '"::ffff:11.0.0.0/104"' });
  });

  it("accepts IPv6 CIDRs with excepts inside them", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toCIDRSet:
  - cidr: "2001:db8::/32"
    except: ["2001:db8:1::/48"]`);
    expect(errorsOf(text)).toEqual([]);
  });

  it("checks toFQDNs names and patterns against Cilium's character sets", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toFQDNs:
  - matchName: "a b.com"
  - matchPattern: "*.ex/ample.com"
  - {matchName: a.com, matchPattern: "*.a.com"}
  - {}`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toFQDNs[0].matchName", message: "a DNS name", at: '"a b.com"' });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toFQDNs[1].matchPattern", message: "a DNS pattern", at: '"*.ex/ample.com"' });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toFQDNs[2]", message: "exactly one of matchName, matchPattern is required; it is ambiguous", at: "{matchName: a.com" });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toFQDNs[3]", message: "is missing", at: "{}", nth: 1 });
  });

  it("rejects DNS rule entries with bad characters", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toEndpoints: [{}]
  toPorts:
  - ports: [{port: "53", protocol: ANY}]
    rules:
      dns: [{matchName: "exa mple.com"}]`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toPorts[0].rules.dns[0].matchName", message: "a DNS name", at: '"exa mple.com"' });
  });
});
