// A rolling restart under load: a client sends 3,000 requests per second for 20 seconds
// through the proxy while it is restarted twice (new process beside the old one, then
// SIGTERM to the old one). The goal is zero failed requests; every failure is reported.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, sleep } from "../../src/netns/cluster.js";
import { runLoad } from "../support/load-client.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("hitless restart e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");

describe.runIf(canRun)("hitless restart under load", () => {
  const cluster = new NetnsCluster(`hr${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9906,
    servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream"] }],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([join(FIX, "smuggling-policy.yaml")]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("two restarts during 20 s at 3,000 rps lose no request", { timeout: 120_000 }, async () => {
    const load = runLoad(cluster.topo.pod("client").netns, "http://10.203.0.20/load", {
      connections: 32,
      durationMs: 20_000,
      rate: 3000,
    });
    await sleep(5000);
    const firstExit = await cluster.restartProxy();
    await sleep(4000);
    const secondExit = await cluster.restartProxy();
    const report = await load;
    console.log(`hitless restart: ${report.sent} requests sent, ${report.ok} ok, failures ${JSON.stringify(report.failures)}`);
    expect(firstExit).toBe(0);
    expect(secondExit).toBe(0);
    expect(report.sent).toBeGreaterThan(10_000);
    expect(report.failures).toEqual({});
    // The proxy that is left still enforces.
    expect((await cluster.curl("client", ["-X", "PUT", "http://10.203.0.20/load"])).status).toBe(403);
  });
});
