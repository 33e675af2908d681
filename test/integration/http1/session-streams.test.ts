// Bodies stream through (never buffered whole), 100-continue, and upgrades into tunnels.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawClient, patternBytes, replyDate, startProxy, startUpstream, statusLines, waitFor, type Proxy, type Recorder } from "./harness.js";

const run = promisify(execFile);
let upstream: Recorder;
let proxy: Proxy;
let dir: string;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(upstream.port);
  dir = mkdtempSync(join(tmpdir(), "l7p-http1-"));
});

afterAll(async () => {
  await proxy.close();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The bytes the upstream received on connection n after the first head. */
function upstreamBody(n: number): Buffer {
  const all = Buffer.concat(upstream.connections[n]!);
  return all.subarray(all.indexOf("\r\n\r\n") + 4);
}

describe("bodies", () => {
  it("streams a 64 KiB Content-Length upload from curl byte for byte", async () => {
    const body = pseudoRandom(64 * 1024, 1);
    const file = join(dir, "64k.bin");
    writeFileSync(file, body);
    const n = upstream.connectionCount();
    const { stdout } = await run("curl", ["-sS", "--data-binary", `@${file}`, "-H", "Expect:", `http://127.0.0.1:${proxy.port}/echo/up`]);
    expect(JSON.parse(stdout)).toMatchObject({ method: "POST", bodyBytes: body.length });
    expect(sha(upstreamBody(n))).toBe(sha(body));
  });

  it("streams a chunked upload from curl, chunk framing passed through", async () => {
    const body = pseudoRandom(300_000, 2);
    const file = join(dir, "chunked.bin");
    writeFileSync(file, body);
    const n = upstream.connectionCount();
    const { stdout } = await run("curl", [
      "-sS", "-H", "Transfer-Encoding: chunked", "-H", "Expect:", "--data-binary", `@${file}`,
      `http://127.0.0.1:${proxy.port}/echo/chunked`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ bodyBytes: body.length });
    const wire = upstreamBody(n).toString("latin1");
    expect(wire.endsWith("0\r\n\r\n")).toBe(true);
    // De-chunk what the upstream got: it is the file.
    const parts: Buffer[] = [];
    let i = 0;
    const raw = upstreamBody(n);
    for (;;) {
      const eol = raw.indexOf("\r\n", i);
      const size = parseInt(raw.toString("latin1", i, eol), 16);
      if (size === 0) break;
      parts.push(raw.subarray(eol + 2, eol + 2 + size));
      i = eol + 2 + size + 2;
    }
    expect(sha(Buffer.concat(parts))).toBe(sha(body));
  });

  it("streams a multi-megabyte upload and download through Node http", async () => {
    const body = pseudoRandom(8 * 1024 * 1024, 3);
    const n = upstream.connectionCount();
    const res = await new Promise<string>((resolve, reject) => {
      const r = request({ host: "127.0.0.1", port: proxy.port, path: "/echo/big", method: "PUT" }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve(text));
      });
      r.on("error", reject);
      // Several writes, so the proxy sees many reads and must keep the order.
      for (let i = 0; i < body.length; i += 1 << 20) r.write(body.subarray(i, i + (1 << 20)));
      r.end();
    });
    expect(JSON.parse(res)).toMatchObject({ bodyBytes: body.length });
    // Node http sends it chunked; the payload inside is intact.
    const wire = upstreamBody(n);
    expect(wire.length).toBeGreaterThan(body.length);

    const { stdout } = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{size_download}", `http://127.0.0.1:${proxy.port}/bytes/20000000`], {
      maxBuffer: 1 << 20,
    });
    expect(Number(stdout)).toBe(20_000_000);
  });

  it("forwards the first part of a body before the client has sent the rest", async () => {
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    const total = 1 << 20;
    c.write(`POST /echo/half HTTP/1.1\r\nHost: h\r\nContent-Length: ${total}\r\n\r\n`);
    c.write(Buffer.alloc(total / 2, 0x62));
    // The upstream holds half the body while the other half has not been written yet.
    await waitFor(() => upstream.connections[n] !== undefined && upstreamBody(n).length >= total / 2);
    expect(upstreamBody(n).length).toBe(total / 2);
    c.write(Buffer.alloc(total / 2, 0x63));
    const text = await c.until((t) => t.endsWith("0\r\n\r\n"));
    expect(text).toContain(`"bodyBytes":${total}`);
    c.close();
  });
});

describe("Expect: 100-continue", () => {
  it("forwards the expectation of an allowed request; the upstream's 100 reaches curl", async () => {
    const file = join(dir, "expect.bin");
    writeFileSync(file, pseudoRandom(5000, 4));
    const { stdout } = await run("curl", ["-sS", "-i", "-H", "Expect: 100-continue", "--data-binary", `@${file}`, `http://127.0.0.1:${proxy.port}/echo/expect`], {
      encoding: "latin1",
    });
    expect(stdout).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(stdout).toContain('"bodyBytes":5000');
  });

  it("answers a denied one with 403 and no 100, then closes", async () => {
    const c = await RawClient.open(proxy.port);
    const before = upstream.connectionCount();
    c.write("POST /deny/expect HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    const text = await c.untilClosed();
    expect(text).toBe(`HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\ndate: ${replyDate(text)}\r\nconnection: close\r\n\r\nAccess denied\r\n`);
    expect(upstream.connectionCount()).toBe(before);
  });
});

describe("upgrade", () => {
  const handshake = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

  it("tunnels an allowed WebSocket upgrade both ways, including bytes sent before the 101", async () => {
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    c.write(handshake("/ws") + "early-frame|");
    await c.until((t) => t.includes("early-frame|"));
    expect(c.text().startsWith("HTTP/1.1 101 Switching Protocols\r\n")).toBe(true);
    // After the 101 the bytes are not HTTP: a request line is just data to the tunnel.
    c.write("GET /deny/not-http HTTP/1.1\r\n\r\n");
    await c.until((t) => t.includes("/deny/not-http"));
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(handshake("/ws") + "early-frame|GET /deny/not-http HTTP/1.1\r\n\r\n");
    c.socket.end();
    await c.untilClosed();
    expect(proxy.records.find((r) => r.url === "/ws")?.status).toBe(101);
  });

  it("denies an upgrade with 403 and keeps parsing requests on the connection", async () => {
    const c = await RawClient.open(proxy.port);
    c.write(handshake("/ws-deny") + "GET /echo/next HTTP/1.1\r\nHost: h\r\n\r\n");
    const text = await c.until((t) => t.includes('"url":"/echo/next"') && t.endsWith("0\r\n\r\n"));
    expect(statusLines(text)).toEqual([403, 200]);
    c.close();
  });
});

describe("backpressure", () => {
  it("does not buffer a large response for a client that stops reading", async () => {
    const c = await RawClient.open(proxy.port);
    c.socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    c.write("GET /bytes/400000000 HTTP/1.1\r\nHost: h\r\n\r\n");
    await new Promise((r) => setTimeout(r, 1500));
    // Socket buffers along the path hold a few MB; the proxy must not hold the 400 MB.
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    c.socket.resume();
    await c.until((t) => t.length > 1_000_000);
    c.close();
  });

  it("delivers pipelined responses intact to a client that reads in fits and starts (upstream reads reuse one buffer)", async () => {
    const sizes = [6_000_000, 5, 2_000_001];
    const { socket } = await RawClient.open(proxy.port);
    const chunks: Buffer[] = [];
    let total = 0;
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      // Stall now and then, so the proxy's writes to this client queue up.
      if (chunks.length % 2 === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 15);
      }
    });
    socket.write(sizes.map((n) => `GET /pattern/${n} HTTP/1.1\r\nHost: h\r\n\r\n`).join(""));
    const bodyBytes = sizes.reduce((a, b) => a + b, 0);
    await waitFor(() => total >= bodyBytes, 20_000);
    await new Promise((r) => setTimeout(r, 50));
    const wire = Buffer.concat(chunks);
    // Three responses, each head followed by exactly its pattern.
    let at = 0;
    for (const n of sizes) {
      const headEnd = wire.indexOf("\r\n\r\n", at);
      expect(wire.subarray(at, headEnd).toString("latin1")).toMatch(new RegExp(`^HTTP/1.1 200 OK\\r\\n[^]*content-length: ${n}`, "i"));
      const body = wire.subarray(headEnd + 4, headEnd + 4 + n);
      expect(sha(body)).toBe(sha(patternBytes(n)));
      at = headEnd + 4 + n;
    }
    expect(at).toBe(wire.length);
    socket.destroy();
  });
});

describe("draining", () => {
  it("closes after the request in flight once draining starts", async () => {
    let draining = false;
    const p = await startProxy(upstream.port, { draining: () => draining });
    const c = await RawClient.open(p.port);
    c.write("GET /echo/1 HTTP/1.1\r\nHost: h\r\n\r\n");
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    draining = true;
    c.write("GET /echo/2 HTTP/1.1\r\nHost: h\r\n\r\nGET /echo/3 HTTP/1.1\r\nHost: h\r\n\r\n");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200, 200]);
    expect(text).not.toContain("/echo/3");
    await p.close();
  });
});
