// Policy audit mode: a platform team rolls a policy out without breaking traffic. What the
// policy would deny (an L7 request, an L3/L4 connection) is forwarded, and recorded with
// verdict AUDIT naming the policy that would have denied it; metrics count it with
// action="audit"; /policy and /readyz say that audit mode is on.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, NetnsCluster } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { upstreamGetPolicy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("policy audit mode e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const UP = "10.208.0.20";

interface Rec {
  verdict: string;
  type: string;
  policy: { ref: string };
  http?: { url: string; code: number };
  denyReason?: string;
}

/** /flows answers one record per line. */
function records(body: string): Rec[] {
  return body
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Rec);
}

describe.runIf(canRun)("policy audit mode", () => {
  let dir = "";
  const cluster = new NetnsCluster(`au${process.pid % 100000}`, {
    endpointsFile: join(FIX, "audit-endpoints.yaml"),
    adminPort: 9913,
    servers: [],
    proxyArgs: ["--policy-audit-mode"],
  });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "l7proxy-au-"));
    cluster.opts.servers.push({ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream", join(dir, "received")] });
    await cluster.start();
    await cluster.applyPolicies([upstreamGetPolicy("rollout", ["/allowed"])]);
    for (let i = 0; i < 50; i++) {
      if ((await cluster.curl("client", [`http://${UP}/allowed`])).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test("/readyz and /policy say audit mode is on", async () => {
    const ready = await cluster.admin("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toContain("policy audit mode");
    expect((JSON.parse((await cluster.admin("/policy")).body) as { policyAuditMode: boolean }).policyAuditMode).toBe(true);
  });

  test("an L7 request the policy denies is forwarded and recorded as AUDIT, naming the policy", async () => {
    const r = await cluster.curl("client", ["-X", "POST", `http://${UP}/not-in-the-policy`]);
    expect(r.status).toBe(200);
    expect(r.body).toContain("upstream POST /not-in-the-policy");
    expect(await readFile(join(dir, "received"), "latin1")).toContain("POST /not-in-the-policy ");
    const rec = records((await cluster.admin("/flows?verdict=AUDIT")).body).find((f) => f.http?.url === "/not-in-the-policy");
    expect(rec).toMatchObject({ verdict: "AUDIT", type: "L7", policy: { ref: "default/rollout" }, http: { code: 200 }, denyReason: "POLICY_DENIED" });
    const metrics = (await cluster.admin("/metrics")).body;
    expect(metrics).toMatch(/hubble_policy_verdicts_total\{direction="ingress",match="l7\/http",action="audit"\} [1-9]/);
    expect(metrics).toMatch(/l7proxy_flow_records_total\{verdict="AUDIT",result="written"\} [1-9]/);
    // Audited requests are not denials: the count app teams watch stays at zero.
    expect(metrics).not.toMatch(/l7proxy_denied_requests_total\{protocol="http"[^}]*\} [1-9]/);
  });

  test("an allowed request stays FORWARDED", async () => {
    expect((await cluster.curl("client", [`http://${UP}/allowed`])).status).toBe(200);
    expect(records((await cluster.admin("/flows?verdict=FORWARDED")).body).some((f) => f.http?.url === "/allowed")).toBe(true);
  });

  test("a connection denied at L3/L4 is forwarded and recorded as AUDIT; observe --verdict AUDIT shows both", async () => {
    const r = await cluster.curl("outsider", [`http://${UP}/from-outside`]);
    expect(r.status).toBe(200);
    const metrics = (await cluster.admin("/metrics")).body;
    expect(metrics).toMatch(/hubble_policy_verdicts_total\{direction="ingress",match="none",action="audit"\} [1-9]/);
    // Nothing was dropped.
    expect(metrics).not.toMatch(/hubble_drop_total\{[^}]*\} [1-9]/);
    const obs = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--verdict", "AUDIT", "--no-color"]);
    expect(obs.stdout).toMatch(/^AUDIT {2}default\/client -> default\/upstream:80 {2}http POST \/not-in-the-policy 200 {2}policy default\/rollout$/m);
    expect(obs.stdout).toMatch(/^AUDIT {2}default\/outsider -> default\/upstream:80 {2}tcp {2}policy default-deny$/m);
  });
});
