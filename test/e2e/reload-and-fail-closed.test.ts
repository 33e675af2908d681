// Policy reloads under traffic lose no request; an invalid change keeps the last good
// policy; stopping the proxy fails closed; uninstalling the rules leaves nothing behind.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, CLI } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { runLoad } from "../support/load-client.js";
import { rawExchange } from "../support/raw-http.js";
import { requireRootOrSkip } from "../support/root.js";
import { upstreamGetPolicy as policy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("reload / fail-closed e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");


describe.runIf(canRun)("reloads and failing closed", () => {
  const cluster = new NetnsCluster(`rl${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9904,
    servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream"] }],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([policy("v0", ["/load/.*"])]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("policy reloads while traffic flows fail no request", async () => {
    const load = runLoad(cluster.topo.pod("client").netns, "http://10.203.0.20/load/x", { connections: 8, durationMs: 4000 });
    const revisions: number[] = [];
    for (let i = 1; i <= 6; i++) {
      await new Promise((r) => setTimeout(r, 400));
      // Each version still allows /load/.*, alongside a path that changes.
      await cluster.applyPolicies([policy(`v${i}`, ["/load/.*", `/other-${i}`])]);
      revisions.push(await cluster.revision());
    }
    const report = await load;
    expect(new Set(revisions).size).toBe(6);
    expect(report.sent).toBeGreaterThan(100);
    expect(report.failures).toEqual({});
    expect(report.ok).toBe(report.sent);
    // And the last version is the one enforced.
    expect((await cluster.curl("client", ["http://10.203.0.20/other-6"])).status).toBe(200);
    expect((await cluster.curl("client", ["http://10.203.0.20/other-5"])).status).toBe(403);
  });

  test("an invalid change is reported with file:line and the last good policy stays", async () => {
    const before = await cluster.revision();
    await writeFile(join(cluster.policyDir, "policy.yaml"), policy("broken", ["/load/(unclosed"]).text);
    let info = { revision: 0, lastError: null as string | null };
    for (let i = 0; i < 40 && info.lastError === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      info = JSON.parse((await cluster.admin("/policy")).body) as typeof info;
    }
    expect(info.lastError).toMatch(/policy\.yaml:\d+:\d+: .*http\[0\]\.path: invalid RE2 regex/);
    expect(info.revision).toBe(before);
    expect(cluster.proxyLog).toContain("policy.yaml:");
    expect((await cluster.curl("client", ["http://10.203.0.20/other-6"])).status).toBe(200);
    expect((await cluster.curl("client", ["http://10.203.0.20/other-5"])).status).toBe(403);
  });

  test("a reload that denies the client at L3/L4 applies to the next request on an open connection", async () => {
    const H = "Host: upstream\r\n";
    // One keep-alive connection: a request now, another after the policy has changed.
    const exchange = rawExchange(
      cluster.topo.pod("client").netns,
      "10.203.0.20",
      80,
      [`GET /other-6 HTTP/1.1\r\n${H}\r\n`, `GET /other-6 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
      { gapMs: 2500, waitMs: 5000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    const onlyOthers = policy("others-only", ["/other-6"]);
    await cluster.applyPolicies([{ ...onlyOthers, text: onlyOthers.text.replace("app: client", "app: someone-else") }]);
    const r = await exchange;
    const statuses = [...r.response.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "403"]);
    // New connections are refused at L3/L4.
    expect((await cluster.curl("client", ["http://10.203.0.20/other-6"])).status).toBe(0);
  });

  test("stopping the proxy fails closed; uninstalling the rules leaves nothing behind", async () => {
    expect(await cluster.stopProxy()).toBe(0);
    // Rules stay: enforced traffic finds no listener and is refused, never forwarded.
    const r = await cluster.curl("client", ["http://10.203.0.20/load/x"]);
    expect(r.status).toBe(0);
    expect(r.code).not.toBe(0);
    const node = cluster.topo.nodeNetns;
    await runIn(node, process.execPath, [CLI, "rules", "uninstall"]);
    expect((await runIn(node, "nft", ["list", "tables"])).stdout).not.toMatch(/l7proxy/);
    expect((await runIn(node, "ip", ["rule", "list"])).stdout).not.toMatch(/fwmark/);
    expect((await runIn(node, "ip", ["route", "show", "table", "157"], { allowFail: true })).stdout.trim()).toBe("");
    // With no rules, nothing is intercepted: traffic flows directly (no policy enforced).
    expect((await cluster.curl("client", ["http://10.203.0.20/other-5"])).status).toBe(200);
  });
});
