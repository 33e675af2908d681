// Allowed requests pass byte for byte, denied ones get Envoy's 403 in order and never reach
// the upstream, with real curl, Node http and raw sockets.

import { execFile } from "node:child_process";
import { Agent, request } from "node:http";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DENIED_403, RawClient, replyDate, startProxy, startUpstream, statusLines, waitFor, type Proxy, type Recorder } from "./harness.js";

const run = promisify(execFile);

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run("curl", ["-sS", "-i", "--max-time", "10", ...args], { encoding: "latin1" });
  return stdout;
}

let upstream: Recorder;
let proxy: Proxy;
let base: string;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(upstream.port);
  base = `http://127.0.0.1:${proxy.port}`;
});

afterAll(async () => {
  await proxy.close();
  await upstream.close();
});

describe("HTTP/1.1 session with curl", () => {
  it("forwards an allowed GET and streams the response back", async () => {
    const out = await curl([`${base}/echo?x=1`]);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out).toContain("x-upstream: yes");
    const body = JSON.parse(out.slice(out.indexOf("\r\n\r\n") + 4));
    expect(body).toMatchObject({ method: "GET", url: "/echo?x=1" });
  });

  it("answers a denied request with the exact 403 and never connects upstream", async () => {
    const before = upstream.connectionCount();
    const out = await curl(["-X", "PUT", `${base}/deny/exhaust-port`]);
    expect(out).toBe(DENIED_403(replyDate(out)));
    expect(upstream.connectionCount()).toBe(before);
    const rec = proxy.records.at(-1)!;
    expect([rec.method, rec.url, rec.allowed, rec.status]).toEqual(["PUT", "/deny/exhaust-port", false, 403]);
  });

  it("speaks HTTP/1.0", async () => {
    const out = await curl(["--http1.0", `${base}/echo`]);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const denied = await curl(["--http1.0", `${base}/deny`]);
    expect(denied).toBe(DENIED_403(replyDate(denied), "connection: close\r\n"));
  });

  it("sends headers only for a denied HEAD", async () => {
    const out = await curl(["-I", `${base}/deny`]);
    const date = replyDate(out);
    expect(out).toBe(`HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\ndate: ${date}\r\n\r\n`);
  });

  it("answers 431 for an oversized header block and forwards nothing", async () => {
    const before = upstream.received().length;
    const out = await curl(["-H", `X-Big: ${"a".repeat(70_000)}`, `${base}/echo`]);
    expect(out).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(out).toContain("connection: close");
    expect(upstream.received().length).toBe(before);
  });

  it("applies header ops to the forwarded head", async () => {
    const out = await curl(["-H", "X-Replace: old", "-H", "X-Delete: bye", "-H", "X-Keep: 1", `${base}/ops`]);
    const body = JSON.parse(out.slice(out.indexOf("\r\n\r\n") + 4)) as { rawHeaders: string[] };
    const pairs: string[] = [];
    for (let i = 0; i < body.rawHeaders.length; i += 2) pairs.push(`${body.rawHeaders[i]}: ${body.rawHeaders[i + 1]}`);
    expect(pairs).toContain("X-Replace: new");
    expect(pairs).toContain("X-Added: added");
    expect(pairs).toContain("X-Keep: 1");
    expect(pairs.some((p) => p.toLowerCase().startsWith("x-delete"))).toBe(false);
    expect(pairs.some((p) => p === "X-Replace: old")).toBe(false);
  });
});

describe("HTTP/1.1 session with raw sockets", () => {
  it("passes allowed requests byte for byte", async () => {
    const req = "GET /echo/exact HTTP/1.1\r\nHost: Example.TEST:8080\r\nX-Odd-Case:  spaced value \r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n";
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    c.write(req);
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(req);
    c.close();
  });

  it("answers pipelined requests in order, a denied one between allowed ones included", async () => {
    const a = "GET /echo/a HTTP/1.1\r\nHost: h\r\n\r\n";
    const d = "GET /deny/b HTTP/1.1\r\nHost: h\r\n\r\n";
    const c2 = "POST /echo/c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const d2 = "DELETE /echo/d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nwxyz";
    const e = "GET /echo/e HTTP/1.1\r\nHost: h\r\n\r\n";
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    c.write(a + d + c2 + d2 + e);
    const text = await c.until((t) => t.includes('"url":"/echo/e"') && t.endsWith("0\r\n\r\n"));
    expect(statusLines(text)).toEqual([200, 403, 200, 403, 200]);
    const urls = [...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(["/echo/a", "/echo/c", "/echo/e"]);
    // The upstream got exactly the allowed requests, denied bodies included nowhere.
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(a + c2 + e);
    c.close();
  });

  it("keeps the connection usable after a 403 (Node http keep-alive agent)", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; body: string; port: number }>((resolve, reject) => {
        const r = request({ host: "127.0.0.1", port: proxy.port, path, agent }, (res) => {
          const port = res.socket.localPort ?? 0;
          let body = "";
          res.setEncoding("latin1");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body, port }));
        });
        r.on("error", reject);
        r.end();
      });
    const first = await get("/echo/1");
    const denied = await get("/deny/2");
    const third = await get("/echo/3");
    expect([first.status, denied.status, third.status]).toEqual([200, 403, 200]);
    expect(denied.body).toBe("Access denied\r\n");
    expect(new Set([first.port, denied.port, third.port]).size).toBe(1);
    agent.destroy();
  });

  it("frames HEAD, 204, 304 and 103 responses so the next response stays in step", async () => {
    const c = await RawClient.open(proxy.port);
    c.write(
      "HEAD /echo/h HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET /status/204 HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET /status/304 HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET /hints HTTP/1.1\r\nHost: h\r\n\r\n" +
        "GET /echo/last HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    const text = await c.until((t) => t.includes('"url":"/echo/last"') && t.endsWith("0\r\n\r\n"));
    expect(statusLines(text)).toEqual([200, 204, 304, 200, 200]);
    expect(text).toContain("HTTP/1.1 103 Early Hints\r\n");
    c.close();
  });

  it("closes after a request with Connection: close, never forwarding what follows", async () => {
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    const first = "GET /echo/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    c.write(`${first}GET /echo/after-close HTTP/1.1\r\nHost: h\r\n\r\n`);
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200]);
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(first);
  });

  it("records one flow record per request with its verdict", async () => {
    const before = proxy.records.length;
    const c = await RawClient.open(proxy.port);
    c.write("GET /echo/r HTTP/1.1\r\nHost: rec.test\r\n\r\nGET /deny/r HTTP/1.1\r\nHost: rec.test\r\n\r\n");
    await c.until((t) => statusLines(t).length === 2);
    c.close();
    await waitFor(() => proxy.records.length >= before + 2);
    const recs = proxy.records.slice(before).map((r) => [r.method, r.url, r.host, r.allowed, r.status, (r.verdict as { rule?: string }).rule]);
    expect(recs).toEqual([
      ["GET", "/echo/r", "rec.test", true, 200, "allow"],
      ["GET", "/deny/r", "rec.test", false, 403, "deny"],
    ]);
  });
});
