import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../src/errors/codes.js";
import { parseRunConfig, RUN_OPTIONS, runOptionsHelp } from "../../../src/config/run-config.js";

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "l7p-config-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, text);
  return file;
}

function errorOf(fn: () => unknown): L7ProxyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof L7ProxyError) return err;
    throw err;
  }
  throw new Error("expected an L7ProxyError");
}

describe("run configuration", () => {
  test("defaults come from the schema", () => {
    const c = parseRunConfig(["--policies", "p"], {});
    expect(c.proxyPort).toBe(15001);
    expect(c.admin).toEqual({ host: "127.0.0.1", port: 9901 });
    expect(c.installRules).toBe(true);
    expect(c.logLevel).toBe("info");
    expect(c.policies).toEqual(["p"]);
    expect(Object.isFrozen(c)).toBe(true);
  });

  test("upstream connections preserve the source by default, with a mark that shares no bit with --mark", () => {
    const c = parseRunConfig(["--policies", "p"], {});
    expect(c.preserveSource).toBe(true);
    expect(c.upstreamMark & c.mark).toBe(0);
    expect(parseRunConfig(["--policies", "p", "--no-preserve-source"], {}).preserveSource).toBe(false);
    expect(parseRunConfig(["--policies", "p", "--upstream-mark", "0x100"], {}).upstreamMark).toBe(0x100);
    const err = errorOf(() => parseRunConfig(["--policies", "p", "--upstream-mark", "0x7e00"], {}));
    expect(err.code).toBe("L7P_ERR_USAGE");
    expect(err.message).toContain("--upstream-mark");
  });

  test("stream timeouts: Cilium's defaults (route 3600 s, gRPC deadline uncapped), bounded by setTimeout's range", () => {
    const c = parseRunConfig(["--policies", "p"], {});
    expect([c.requestTimeoutMs, c.maxGrpcTimeoutMs]).toEqual([3_600_000, 0]);
    const set = parseRunConfig(["--policies", "p", "--request-timeout-ms", "300", "--max-grpc-timeout-ms", "5000"], {});
    expect([set.requestTimeoutMs, set.maxGrpcTimeoutMs]).toEqual([300, 5000]);
    for (const flag of ["--request-timeout-ms", "--max-grpc-timeout-ms"]) {
      const err = errorOf(() => parseRunConfig(["--policies", "p", flag, "2147483648"], {}));
      expect([err.code, err.message.includes(flag)]).toEqual(["L7P_ERR_USAGE", true]);
    }
  });

  test("NODE_NAME names this node when --node-name is absent", () => {
    expect(parseRunConfig(["--policies", "p"], { NODE_NAME: "node-7" }).nodeName).toBe("node-7");
    expect(parseRunConfig(["--policies", "p", "--node-name", "node-1"], { NODE_NAME: "node-7" }).nodeName).toBe("node-1");
  });

  test("repeatable --policies, --no-install-rules, --admin off", () => {
    const c = parseRunConfig(["--policies", "a", "--policies", "b", "--no-install-rules", "--admin", "off"], {});
    expect(c.policies).toEqual(["a", "b"]);
    expect(c.installRules).toBe(false);
    expect(c.admin).toBeNull();
  });

  test("the config file uses the flag names; flags win over it", () => {
    const file = configFile("policies: [/etc/l7proxy/policies]\nproxy-port: 16000\nlog-level: debug\ninstall-rules: false\n");
    const c = parseRunConfig(["--config", file, "--proxy-port", "17000"], {});
    expect(c.policies).toEqual(["/etc/l7proxy/policies"]);
    expect(c.proxyPort).toBe(17000);
    expect(c.logLevel).toBe("debug");
    expect(c.installRules).toBe(false);
    expect(parseRunConfig(["--config", file, "--install-rules"], {}).installRules).toBe(true);
  });

  test("an unknown key in the config file is an error naming the file and key", () => {
    const file = configFile("proxy-prot: 1\n");
    const err = errorOf(() => parseRunConfig(["--config", file], {}));
    expect(err.code).toBe("L7P_ERR_CONFIG");
    expect(err.message).toContain(file);
    expect(err.message).toContain("proxy-prot");
  });

  test("a wrongly typed value is an error", () => {
    const err = errorOf(() => parseRunConfig(["--config", configFile("proxy-port: many\n")], {}));
    expect(err.message).toMatch(/proxy-port: expected a non-negative integer/);
  });

  test("usage errors: unknown flag, bad port, bad level, bad admin address", () => {
    expect(errorOf(() => parseRunConfig(["--bogus"], {})).code).toBe("L7P_ERR_USAGE");
    expect(errorOf(() => parseRunConfig(["--proxy-port", "70000"], {})).message).toMatch(/proxy-port/);
    expect(errorOf(() => parseRunConfig(["--log-level", "loud"], {})).message).toMatch(/log-level/);
    expect(errorOf(() => parseRunConfig(["--admin", "nowhere"], {})).message).toMatch(/--admin/);
  });

  test("the proxy port listens on both families by default (auto); --proxy-host takes a numeric address", () => {
    expect(parseRunConfig([], {}).proxyHost).toBe("auto");
    expect(parseRunConfig(["--proxy-host", "::"], {}).proxyHost).toBe("::");
    expect(parseRunConfig(["--proxy-host", "127.0.0.1"], {}).proxyHost).toBe("127.0.0.1");
    expect(errorOf(() => parseRunConfig(["--proxy-host", "localhost"], {})).message).toMatch(/--proxy-host: expected a numeric IP address or auto/);
  });

  test("NODE_NAME fills --node-name, the flag wins", () => {
    expect(parseRunConfig([], { NODE_NAME: "node-a" }).nodeName).toBe("node-a");
    expect(parseRunConfig(["--node-name", "node-b"], { NODE_NAME: "node-a" }).nodeName).toBe("node-b");
  });

  test("--help text lists every option with its default", () => {
    const help = runOptionsHelp();
    for (const name of Object.keys(RUN_OPTIONS)) expect(help).toContain(`--${name}`);
    expect(help).toContain("(default 15001)");
  });
});
