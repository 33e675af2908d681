import { describe, expect, test } from "vitest";
import { isOurRoute, isOurRule, renderIpCommands } from "../../../src/intercept/ip-routing.js";
import type { InterceptSpec } from "../../../src/intercept/rules-spec.js";

const spec: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  ingressIps: [],
  egressIps: [],
};

describe("renderIpCommands", () => {
  test("a mark rule and a local default route, for IPv4 and IPv6", () => {
    expect(renderIpCommands(spec).map((c) => c.join(" "))).toEqual([
      "ip -4 rule add fwmark 0x7e57 lookup 157 priority 9157",
      "ip -4 route replace local 0.0.0.0/0 dev lo table 157",
      "ip -6 rule add fwmark 0x7e57 lookup 157 priority 9157",
      "ip -6 route replace local ::/0 dev lo table 157",
    ]);
  });

  test("honours a configured rule priority", () => {
    expect(renderIpCommands({ ...spec, rulePriority: 100 })[0]).toContain("100");
  });
});

// Entries as `ip -j rule show` / `ip -j route show table 157` print them (iproute2 6.1).
describe("recognising installed entries", () => {
  test("our rule, and not rules that differ in mark, mask, table or priority", () => {
    expect(isOurRule({ priority: 9157, fwmark: "0x7e57", table: "157" }, spec)).toBe(true);
    expect(isOurRule({ priority: 9157, fwmark: "0x7e57", fwmask: "0xffffffff", table: "157" }, spec)).toBe(true);
    expect(isOurRule({ priority: 9157, fwmark: "0x7e57", fwmask: "0xff", table: "157" }, spec)).toBe(false);
    expect(isOurRule({ priority: 9157, fwmark: "0x7e58", table: "157" }, spec)).toBe(false);
    expect(isOurRule({ priority: 9157, fwmark: "0x7e57", table: "158" }, spec)).toBe(false);
    expect(isOurRule({ priority: 100, fwmark: "0x7e57", table: "157" }, spec)).toBe(false);
    expect(isOurRule({ priority: 0, table: "local" }, spec)).toBe(false);
  });

  test("our local default route", () => {
    expect(isOurRoute({ type: "local", dst: "default", dev: "lo" })).toBe(true);
    expect(isOurRoute({ type: "unicast", dst: "default", dev: "lo" })).toBe(false);
    expect(isOurRoute({ type: "local", dst: "10.0.0.0/8", dev: "lo" })).toBe(false);
  });
});
