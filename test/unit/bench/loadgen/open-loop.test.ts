import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runOpenLoop } from "../../../../bench/load/loadgen/open-loop.js";

describe("open-loop generator", () => {
  let server: Server;
  let port = 0;
  const paths: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? "");
      if (req.url === "/slow") setTimeout(() => res.writeHead(200, { "content-length": "0" }).end(), 300);
      else res.writeHead(req.url === "/deny" ? 403 : 200, { "content-length": "1" }).end("x");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test("sends the scheduled number of requests, alternating paths, and counts statuses", async () => {
    paths.length = 0;
    const r = await runOpenLoop({ host: "127.0.0.1", port, rate: 400, warmupMs: 100, durationMs: 500, connections: 4, paths: ["/ok", "/deny"], hostHeader: "x", drainMs: 2000 });
    // 400 rps: 40 warm-up requests (not counted) and 200 measured ones.
    expect(r.scheduled).toBe(200);
    expect(r.completed).toBe(200);
    expect(r.status2xx).toBe(100);
    expect(r.status403).toBe(100);
    expect(r.socketErrors + r.timeouts + r.statusOther).toBe(0);
    expect(paths.length).toBe(240);
    expect(r.latency.count).toBe(200);
  });

  test("measures from the scheduled time: a stalled connection charges the requests queued behind it", async () => {
    // One connection, 20 rps, each answer takes 300 ms: requests queue, so latency from the
    // schedule grows well beyond the 300 ms service time (coordinated omission corrected).
    const r = await runOpenLoop({ host: "127.0.0.1", port, rate: 20, warmupMs: 0, durationMs: 500, connections: 1, paths: ["/slow"], hostHeader: "x", drainMs: 5000 });
    expect(r.completed).toBe(10);
    expect(r.service.p50).toBeGreaterThanOrEqual(299);
    expect(r.latency.max).toBeGreaterThan(r.service.max + 1000);
  });

  test("an unreachable target is an error, not a result", async () => {
    await expect(runOpenLoop({ host: "127.0.0.1", port: 1, rate: 10, warmupMs: 0, durationMs: 100, connections: 1, paths: ["/"], hostHeader: "x", drainMs: 100 })).rejects.toThrow(/cannot connect/);
  });
});
