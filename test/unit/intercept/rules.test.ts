import { describe, expect, test } from "vitest";
import { type InterceptSpec, installRules, renderRules, rulesInstalled, uninstallRules, updateEnforcedIps } from "../../../src/intercept/rules.js";

const spec: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  ingressIps: ["10.200.2.2"],
  egressIps: [],
};

describe("renderRules", () => {
  test("renders the chosen backend and the routing commands", () => {
    const nft = renderRules(spec);
    expect(nft.script).toContain("table inet l7proxy {");
    expect(nft.ipCommands[0]).toEqual(["ip", "-4", "rule", "add", "fwmark", "0x7e57", "lookup", "157", "priority", "9157"]);
    const iptables = renderRules({ ...spec, backend: "iptables" });
    expect(iptables.script).toContain("*mangle");
    expect(iptables.script).not.toContain("table inet");
    expect(iptables.ipCommands).toEqual(nft.ipCommands);
  });
});

describe("install, update, uninstall: failures", () => {
  test("a bad spec is refused before any command runs", async () => {
    for (const action of [installRules, uninstallRules, updateEnforcedIps, rulesInstalled]) {
      await expect(action({ ...spec, ingressIps: ["not-an-ip"] })).rejects.toMatchObject({
        code: "L7P_ERR_RULES",
        message: expect.stringContaining("not-an-ip"),
      });
    }
  });

  test("a failing command is reported as L7P_ERR_RULES with the tool's own message", async () => {
    const missing = { netns: `l7p-missing-${process.pid}` };
    const error = (await installRules(spec, missing).catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe("L7P_ERR_RULES");
    expect(error.message).toContain(missing.netns);
    expect(error.message).toMatch(/failed: .+/);
  });
});
