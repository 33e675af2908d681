// The request timeout (Envoy's route timeout): a response that does not complete in time gets
// Envoy's 504 if nothing of it was sent, else the connection is cut short. Real sockets; an upstream that never
// answers (the harness's /hold/) and a raw one that stops halfway.

import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, listen, replyDate, startProxy, startUpstream, statusLines, waitFor, type Recorder } from "./harness.js";

let upstream: Recorder;

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await upstream.close();
});

describe("request timeout", () => {
  it("answers 504 with connection: close when no response head came in time", async () => {
    const p = await startProxy(upstream.port, { requestTimeoutMs: 300 });
    const c = await RawClient.open(p.port);
    c.write("GET /hold/never HTTP/1.1\r\nHost: h\r\n\r\n");
    const out = await c.untilClosed();
    const date = replyDate(out);
    expect(out).toBe(
      `HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 24\r\ncontent-type: text/plain\r\ndate: ${date}\r\nconnection: close\r\n\r\nupstream request timeout`,
    );
    expect(c.reset).toBe(false);
    expect(p.connectionErrors).toContain("L7P_ERR_TIMEOUT");
    expect(p.records.map((r) => [r.url, r.status])).toEqual([["/hold/never", 504]]);
    upstream.release("/hold/never");
    await p.close();
  });

  it("lets responses that complete in time through, on a keep-alive connection", async () => {
    const p = await startProxy(upstream.port, { requestTimeoutMs: 5_000 });
    const c = await RawClient.open(p.port);
    for (const path of ["/hold/k1", "/hold/k2"]) {
      c.write(`GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
      await waitFor(() => upstream.holding().includes(path));
      upstream.release(path);
      await c.until((t) => t.includes(`"url":"${path}"`) && t.endsWith("0\r\n\r\n"));
    }
    expect(statusLines(c.text())).toEqual([200, 200]);
    expect(c.closed).toBe(false);
    expect(p.connectionErrors).toEqual([]);
    c.close();
    await p.close();
  });

  it("cuts the connection when the response started but did not finish in time", async () => {
    const stalled = new Set<Socket>();
    const raw = createServer((s) => {
      stalled.add(s);
      s.once("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
      s.on("error", () => {});
    });
    const port = await listen(raw);
    const p = await startProxy(port, { requestTimeoutMs: 300 });
    const c = await RawClient.open(p.port);
    c.write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    const out = await c.untilClosed();
    // The client sees the body end 7 bytes short of its Content-Length.
    expect(out).toBe("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    expect(c.closed).toBe(true);
    expect(p.connectionErrors).toContain("L7P_ERR_TIMEOUT");
    await p.close();
    for (const s of stalled) s.destroy();
    await new Promise<void>((r) => raw.close(() => r()));
  });
});
