// --workers 2: two processes accept on the same transparent port; the primary's admin API
// sums their metrics and shows their flow records; both enforce the same policy.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("workers e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");

function metric(text: string, name: string): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

describe.runIf(canRun)("--workers 2", () => {
  const cluster = new NetnsCluster(`wk${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9908,
    proxyArgs: ["--workers", "2", "--listen-backlog", "3000"],
    servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream"] }],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([join(FIX, "smuggling-policy.yaml")]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("two worker processes serve the port", async () => {
    const ps = await runIn(cluster.topo.nodeNetns, "ss", ["-Hltnp", "sport = :15001"]);
    const pids = new Set([...ps.stdout.matchAll(/pid=(\d+)/g)].map((m) => m[1]));
    expect(pids.size).toBe(2);
  });

  test("each worker's listener has the configured accept queue (--listen-backlog)", async () => {
    const ss = await runIn(cluster.topo.nodeNetns, "ss", ["-Hltn", "sport = :15001"]);
    // State Recv-Q Send-Q ...: Send-Q is a listener's backlog.
    const backlogs = ss.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/)[2]);
    expect(backlogs).toEqual(["3000", "3000"]);
  });

  test("every connection is enforced, whichever worker takes it; metrics and flows add up", async () => {
    const before = metric((await cluster.admin("/metrics")).body, "envoy_http_rq_total");
    const n = 20;
    let ok = 0;
    let denied = 0;
    for (let i = 0; i < n; i++) {
      // New connection each time, so the kernel spreads them over both workers.
      ok += (await cluster.curl("client", ["http://10.203.0.20/fine"])).status === 200 ? 1 : 0;
      denied += (await cluster.curl("client", ["-X", "PUT", "http://10.203.0.20/fine"])).status === 403 ? 1 : 0;
    }
    expect({ ok, denied }).toEqual({ ok: n, denied: n });
    const after = metric((await cluster.admin("/metrics")).body, "envoy_http_rq_total");
    expect(after - before).toBe(2 * n);
    const dropped = (await cluster.admin("/flows?verdict=DROPPED")).body.trim().split("\n");
    expect(dropped.length).toBeGreaterThanOrEqual(n);
  });

  test("SIGTERM stops the primary and its workers cleanly", async () => {
    expect(await cluster.stopProxy()).toBe(0);
    const ps = await runIn(cluster.topo.nodeNetns, "ss", ["-Hltn", "sport = :15001"]);
    expect(ps.stdout.trim()).toBe("");
  });
});
