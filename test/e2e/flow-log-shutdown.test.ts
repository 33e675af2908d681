// Flow records are written to stderr in batches (src/telemetry/logger.ts): a SIGTERM right
// after the traffic must still leave one whole log line per request, in order, before the
// proxy's last line.
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

const canRun = requireRootOrSkip("flow log at shutdown (transparent socket needs CAP_NET_ADMIN)");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const PROXY_PORT = 16000 + (process.pid % 1000);


describe.runIf(canRun)("flow records in the log at shutdown", () => {
  let upstream: Server;
  let proxy: ChildProcess;
  let stderr = "";
  beforeAll(async () => {
    upstream = createServer((_req, res) => res.end("ok\n"));
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const port = (upstream.address() as AddressInfo).port;
    const dir = await mkdtemp(join(tmpdir(), "l7p-flowlog-"));
    await writeFile(join(dir, "policy.yaml"), loopbackGetPolicy(port, "/ok/.*"));
    proxy = spawn(process.execPath, [
      CLI, "run", "--upstream", `127.0.0.1:${port}`, "--proxy-host", "127.0.0.1", "--proxy-port", String(PROXY_PORT),
      "--policies", join(dir, "policy.yaml"), "--endpoints", join(FIX, "loopback-endpoints.yaml"), "--admin", "off",
      "--log-level", "info",
    ]);
    proxy.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    await waitForOutput(proxy, /"msg":"l7proxy ready"/);
  }, 30_000);
  afterAll(() => {
    if (proxy?.exitCode === null) proxy.kill("SIGKILL");
    upstream?.close();
  });

  test("every request's flow record is written, whole and in order, when SIGTERM follows the traffic", async () => {
    const paths = ["/ok/1", "/ok/2", "/denied/3", "/ok/4", "/denied/5", "/ok/6"];
    const r = await run("curl", ["-s", "-w", "%{http_code} ", ...paths.flatMap((p) => ["-o", "/dev/null", `http://127.0.0.1:${PROXY_PORT}${p}`])]);
    expect(r.stdout.trim()).toBe("200 200 403 200 403 200");
    const exited = new Promise<number | null>((resolve) => proxy.once("exit", (code) => resolve(code)));
    proxy.kill("SIGTERM");
    expect(await exited).toBe(0);
    const lines = stderr.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { kind?: string; msg: string; flow?: { verdict: string; http?: { url?: string } } });
    const flows = lines.filter((l) => l.kind === "flow");
    expect(flows.map((f) => [f.flow?.verdict, f.flow?.http?.url])).toEqual(
      paths.map((p) => [p.startsWith("/ok") ? "FORWARDED" : "DROPPED", p]),
    );
    expect(lines.at(-1)?.msg).toMatch(/^stopped/);
  });
});
