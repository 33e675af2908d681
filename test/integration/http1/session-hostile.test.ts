// Smuggling shapes, slow clients, broken upstreams and internal errors: each gets its answer
// (or a reset), nothing of it reaches the upstream, and other connections carry on.

import { createServer, connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, RawClient, replyDate, startProxy, startUpstream, statusLines, type Proxy, type Recorder } from "./harness.js";

let upstream: Recorder;
let proxy: Proxy;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(upstream.port);
});

afterAll(async () => {
  await proxy.close();
  await upstream.close();
});

const OK = "GET /echo/ok HTTP/1.1\r\nHost: h\r\n\r\n";
const SHAPES: [string, string, number, number?][] = [
  ["CL.TE", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400],
  ["TE.CL", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400],
  ["duplicate Content-Length", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n", 400],
  ["same Content-Length twice", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400],
  ["Content-Length with junk", "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\nx", 400],
  ["TE: xchunked", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400],
  ["TE: chunked, identity", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400],
  ["space before colon", "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400],
  ["obs-fold", "GET /echo HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", 400],
  ["bare LF", "GET /echo HTTP/1.1\nHost: h\n\n", 400],
  ["bare CR", "GET /echo HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400],
  ["NUL in a header", "GET /echo HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400],
  ["control byte in the target", "GET /echo\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["two Hosts", "GET /echo HTTP/1.1\r\nHost: h\r\nHost: evil\r\n\r\n", 400],
  ["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505],
  ["oversized request line", `GET /${"a".repeat(10_000)} HTTP/1.1\r\nHost: h\r\n\r\n`, 431],
  ["oversized header block without end", `GET / HTTP/1.1\r\nHost: h\r\nX: ${"a".repeat(100_000)}`, 431],
  // Denied at its head (403), then refused at its body.
  ["bad chunk size in a denied request", "POST /deny HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, 403],
];

describe("hostile requests", () => {
  for (const [name, bytes, status, first] of SHAPES) {
    const expected = first === undefined ? [status] : [first, status];
    it(`${name}: ${status}, closed, nothing forwarded, even after a valid request`, async () => {
      const alone = await RawClient.open(proxy.port);
      const before = upstream.connectionCount();
      alone.write(bytes);
      const text = await alone.untilClosed();
      expect(statusLines(text)).toEqual(expected);
      expect(text).toContain("\r\nconnection: close\r\n");
      expect(upstream.connectionCount()).toBe(before);

      const after = await RawClient.open(proxy.port);
      after.write(OK + bytes + OK);
      const text2 = await after.untilClosed();
      expect(statusLines(text2)).toEqual([200, ...expected]);
      // Exactly the first request reached the upstream; neither the hostile one nor the one after.
      expect(Buffer.concat(upstream.connections[before]!).toString("latin1")).toBe(OK);
    });
  }

  it("does not disturb a concurrent keep-alive connection", async () => {
    const good = await RawClient.open(proxy.port);
    let answered = 0;
    const hostile = (async () => {
      for (const [, bytes] of SHAPES) {
        const c = await RawClient.open(proxy.port);
        c.write(bytes);
        await c.untilClosed();
      }
    })();
    for (let i = 0; i < 20; i++) {
      good.write(`GET /echo/${i} HTTP/1.1\r\nHost: h\r\n\r\n`);
      await good.until((t) => statusLines(t).length === i + 1 && t.endsWith("0\r\n\r\n"));
      answered++;
    }
    await hostile;
    expect(answered).toBe(20);
    expect(good.closed).toBe(false);
    good.close();
  });

  it("resets both sides when a forwarded chunked body turns out malformed", async () => {
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    c.write("POST /echo/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await new Promise((r) => setTimeout(r, 100));
    c.write("5\r\nhelloXX\r\n0\r\n\r\n");
    await c.untilClosed();
    // The upstream saw the valid prefix, then the connection died: the request never completed.
    const got = Buffer.concat(upstream.connections[n]!).toString("latin1");
    expect(got.endsWith("5\r\nhello\r\n")).toBe(true);
    expect(statusLines(c.text())).toEqual([]);
  });
});

describe("slow and stuck clients", () => {
  let slow: Proxy;
  beforeAll(async () => {
    slow = await startProxy(upstream.port, { headerTimeoutMs: 300, idleTimeoutMs: 600 });
  });
  afterAll(() => slow.close());

  it("answers 408 to a head that does not complete in time, even when bytes trickle in", async () => {
    const c = await RawClient.open(slow.port);
    const before = upstream.connectionCount();
    const trickle = "GET /echo HTTP/1.1\r\nHost: h\r\nX-Slow: ";
    let i = 0;
    const timer = setInterval(() => {
      if (!c.closed) c.write(trickle[i++ % trickle.length]!);
    }, 20);
    const text = await c.untilClosed(3000);
    clearInterval(timer);
    expect(statusLines(text)).toEqual([408]);
    expect(upstream.connectionCount()).toBe(before);
    expect(slow.connectionErrors).toContain("L7P_ERR_TIMEOUT");
  });

  it("closes a connection that sends nothing", async () => {
    const c = await RawClient.open(slow.port);
    const text = await c.untilClosed(3000);
    expect(text).toBe("");
  });

  it("keeps a keep-alive connection until it has been idle too long", async () => {
    const c = await RawClient.open(slow.port);
    c.write(OK);
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    await new Promise((r) => setTimeout(r, 300));
    expect(c.closed).toBe(false);
    c.write(OK);
    await c.until((t) => statusLines(t).length === 2 && t.endsWith("0\r\n\r\n"));
    await c.untilClosed(3000);
  });
});

describe("heads split across reads", () => {
  it("forwards a request head that arrives in pieces exactly once, and only when complete", async () => {
    const c = await RawClient.open(proxy.port);
    const n = upstream.connectionCount();
    const second = "GET /echo/split HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789\r\n\r\n";
    c.write(OK + second.slice(0, 20));
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(OK);
    for (let i = 20; i < second.length; i += 7) {
      c.write(second.slice(i, i + 7));
      await new Promise((r) => setTimeout(r, 5));
    }
    await c.until((t) => t.includes("/echo/split") && t.endsWith("0\r\n\r\n"));
    expect(Buffer.concat(upstream.connections[n]!).toString("latin1")).toBe(OK + second);
    c.close();
  });

  it("passes a response head that arrives in pieces to the client exactly once", async () => {
    const first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    const second = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Slow: yes\r\n\r\nhello";
    // The first response and the start of the second share a read; the rest trickles in.
    const trickle = createServer((s: Socket) => {
      let seen = "";
      s.on("data", async (d: Buffer) => {
        seen += d.toString("latin1");
        if (!seen.includes("/echo/2")) return;
        s.write(first + second.slice(0, 10));
        for (let i = 10; i < second.length; i += 3) {
          await new Promise((r) => setTimeout(r, 2));
          s.write(second.slice(i, i + 3));
        }
      });
    });
    const port = await listen(trickle);
    const p = await startProxy(port);
    const c = await RawClient.open(p.port);
    c.write("GET /echo/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: h\r\n\r\n");
    await c.until((t) => t.endsWith("hello"));
    expect(c.text()).toBe(first + second);
    c.close();
    await p.close();
    await new Promise((r) => trickle.close(r));
  });
});

describe("failures", () => {
  it("answers 503 like Envoy when the upstream refuses the connection", async () => {
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((r) => closed.close(r));
    const p = await startProxy(port);
    const c = await RawClient.open(p.port);
    c.write(OK);
    const text = await c.untilClosed();
    expect(text).toBe(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-length: 59\r\ncontent-type: text/plain\r\ndate: ${replyDate(text)}\r\nconnection: close\r\n\r\n` +
        "upstream connect error or disconnect/reset before headers\r\n",
    );
    expect(p.connectionErrors).toContain("L7P_ERR_UPSTREAM_CONNECT");
    await p.close();
  });

  it("resets the connection when decide throws, forwarding nothing", async () => {
    const c = await RawClient.open(proxy.port);
    const before = upstream.connectionCount();
    c.write("GET /boom HTTP/1.1\r\nHost: h\r\n\r\n");
    const text = await c.untilClosed();
    expect(text).toBe("");
    expect(upstream.connectionCount()).toBe(before);
    expect(proxy.connectionErrors).toContain("L7P_ERR_INTERNAL");
  });

  it("answers 502 and closes when the upstream answers garbage before any byte reached the client", async () => {
    const bad = createServer((s: Socket) => s.on("data", () => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")));
    const port = await listen(bad);
    const p = await startProxy(port);
    const c = await RawClient.open(p.port);
    c.write(OK);
    const text = await c.untilClosed();
    // As Envoy answers an upstream protocol error: nothing of the bad response is relayed.
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain("connection: close\r\n");
    expect(text).not.toContain("ab");
    expect(p.connectionErrors).toContain("L7P_ERR_HTTP_RESPONSE");
    await p.close();
    await new Promise((r) => bad.close(r));
  });

  it("ends a response that runs until the upstream closes", async () => {
    const legacy = createServer({ allowHalfOpen: true }, (s: Socket) =>
      s.once("data", () => s.end("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")),
    );
    const port = await listen(legacy);
    const p = await startProxy(port);
    const c = await RawClient.open(p.port);
    c.write(OK);
    const text = await c.untilClosed();
    expect(text).toBe("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
    await p.close();
    await new Promise((r) => legacy.close(r));
    void connect;
  });
});
