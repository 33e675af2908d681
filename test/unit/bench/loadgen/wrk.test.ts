import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseWrkOutput, WRK_MARK, wrkArgs, wrkScript } from "../../../../bench/load/loadgen/wrk.js";

const wrkAvailable = spawnSync("wrk", ["-v"]).error === undefined;
if (!wrkAvailable && process.env.CI !== "true") console.warn("wrk not installed: skipping the wrk run");

describe("wrk summary", () => {
  test("parses the done hook's line into rps and millisecond latencies", () => {
    const out = `Running 1s test\n${WRK_MARK}{"requests":5000,"duration_us":2000000,"bytes":100,"status":7,"connect":1,"read":2,"write":3,"timeout":4,"p50":150,"p90":300,"p99":1200,"p999":5000,"max":9000,"mean":180.5}\n`;
    const r = parseWrkOutput(out);
    expect(r).toMatchObject({ requests: 5000, durationSec: 2, rps: 2500, non2xx: 7, connectErrors: 1, readErrors: 2, writeErrors: 3, timeouts: 4 });
    expect(r.latency).toEqual({ p50: 0.15, p90: 0.3, p99: 1.2, p999: 5, max: 9, mean: 0.1805 });
  });

  test("no summary line is an error that shows wrk's output", () => {
    expect(() => parseWrkOutput("unable to connect to 10.0.0.1:80 Connection refused")).toThrow(/Connection refused/);
  });

  test("one path keeps wrk's fast path (no request hook); several rotate", () => {
    expect(wrkScript(["/a"])).not.toContain("request =");
    expect(wrkScript(["/a", "/b"])).toContain('local paths = { "/a", "/b" }');
  });
});

describe.skipIf(!wrkAvailable && process.env.CI !== "true")("wrk with the generated script", () => {
  let server: Server;
  let dir = "";
  const seen = new Map<string, number>();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bench-wrk-"));
    server = createServer((req, res) => {
      seen.set(req.url ?? "", (seen.get(req.url ?? "") ?? 0) + 1);
      res.writeHead(req.url === "/deny" ? 403 : 200, { "content-length": "2" }).end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  test("rotates the paths and reports every request, the 403s as non-2xx", async () => {
    const script = join(dir, "s.lua");
    await writeFile(script, wrkScript(["/allow", "/deny"]));
    const port = (server.address() as { port: number }).port;
    const args = wrkArgs({ url: `http://127.0.0.1:${port}`, paths: ["/allow", "/deny"], connections: 2, threads: 1, durationSec: 1, timeoutSec: 2 }, script);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "inherit"] });
      let s = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (s += d));
      child.on("close", (code) => (code === 0 ? resolve(s) : reject(new Error(`wrk exited ${code}`))));
    });
    const r = parseWrkOutput(out);
    const allowed = seen.get("/allow") ?? 0;
    const denied = seen.get("/deny") ?? 0;
    expect(r.requests).toBeGreaterThan(0);
    // wrk counts the responses it read; the server may have answered a few more at the end.
    expect(r.requests).toBeLessThanOrEqual(allowed + denied);
    expect(Math.abs(allowed - denied)).toBeLessThanOrEqual(4);
    expect(r.non2xx).toBeGreaterThan(0);
    expect(r.non2xx).toBeLessThanOrEqual(denied);
    expect(r.latency.p50).toBeGreaterThan(0);
  });
});
