// Plain mode (--upstream HOST:PORT), used by the benchmark's loopback targets: a listener
// that is not fed by TPROXY, sends every connection to one upstream, and enforces the same
// policy as if the client had dialled that upstream.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, waitForOutput } from "../../src/netns/cluster.js";
import { run } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { loopbackGetPolicy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("plain mode (transparent socket needs CAP_NET_ADMIN)");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const PROXY_PORT = 15000 + (process.pid % 1000);
const UPSTREAM_PORT = 17000 + (process.pid % 1000);


describe.runIf(canRun)("l7proxy run --upstream", () => {
  let upstream: Server;
  let proxy: ChildProcess;
  beforeAll(async () => {
    upstream = createServer((req, res) => res.end(`upstream ${req.method} ${req.url}\n`));
    await new Promise<void>((r) => upstream.listen(UPSTREAM_PORT, "127.0.0.1", r));
    const port = (upstream.address() as AddressInfo).port;
    const dir = await mkdtemp(join(tmpdir(), "l7p-plain-"));
    await writeFile(join(dir, "policy.yaml"), loopbackGetPolicy(UPSTREAM_PORT, "/ok"));
    proxy = spawn(process.execPath, [
      CLI, "run", "--upstream", `127.0.0.1:${port}`, "--proxy-host", "127.0.0.1", "--proxy-port", String(PROXY_PORT),
      "--policies", join(dir, "policy.yaml"), "--endpoints", join(FIX, "loopback-endpoints.yaml"), "--admin", "off",
    ]);
    await waitForOutput(proxy, /"msg":"l7proxy ready"/);
  }, 30_000);
  afterAll(async () => {
    proxy?.kill("SIGTERM");
    upstream?.close();
  });

  test("allowed requests reach the upstream, others get 403, and no rules are installed", async () => {
    const ok = await run("curl", ["-s", "-w", "%{http_code}", `http://127.0.0.1:${PROXY_PORT}/ok`]);
    expect(ok.stdout).toBe("upstream GET /ok\n200");
    const denied = await run("curl", ["-s", "-w", "%{http_code}", `http://127.0.0.1:${PROXY_PORT}/secret`]);
    expect(denied.stdout).toBe("Access denied\r\n403");
    const tables = await run("nft", ["list", "tables"]);
    expect(tables.stdout).not.toMatch(/\bl7proxy\b/);
  });
});
