// Graceful drain and the pipelining bound, with real sockets: an upstream that holds chosen
// requests until the test releases them, so "in flight when drain() is called" is exact.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DENIED_403, RawClient, replyDate, startProxy, startUpstream, statusLines, waitFor, type Proxy, type Recorder } from "./harness.js";

let upstream: Recorder;
let proxy: Proxy | null = null;

beforeAll(async () => {
  upstream = await startUpstream();
});

afterEach(async () => {
  await proxy?.close();
  proxy = null;
});

afterAll(async () => {
  await upstream.close();
});

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;

/** What the upstream sent on its newest connection, as text. */
function upstreamSent(): string {
  return Buffer.concat(upstream.responses.at(-1)!).toString("latin1");
}

/** The Connection header values of each response head in text. */
function connectionHeaders(text: string): string[] {
  return [...text.matchAll(/\r\nconnection: ([^\r]*)\r\n/gi)].map((m) => m[1]!);
}

describe("drain()", () => {
  it("answers the request in flight with Connection: close, changing nothing else, then closes", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write(get("/hold/a"));
    await waitFor(() => upstream.holding().includes("/hold/a"));
    proxy.drainAll();
    upstream.release("/hold/a");
    const text = await c.untilClosed();
    const original = upstreamSent();
    expect(original).toContain("\r\nConnection: keep-alive\r\n");
    expect(text).toBe(original.replace("\r\nConnection: keep-alive\r\n", "\r\nConnection: close\r\n"));
    expect(c.reset).toBe(false);
  });

  it("closes an idle keep-alive connection at once", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write(get("/echo/1"));
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    const before = c.text();
    proxy.drainAll();
    const text = await c.untilClosed();
    expect(text).toBe(before);
    expect(connectionHeaders(text)).toEqual(["keep-alive"]);
    expect(c.reset).toBe(false);
  });

  it("answers both requests of a pipelined pair, only the last saying close", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write(get("/hold/p1") + get("/hold/p2"));
    await waitFor(() => upstream.holding().length === 2);
    proxy.drainAll();
    upstream.release("/hold/p1");
    upstream.release("/hold/p2");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200, 200]);
    expect(connectionHeaders(text)).toEqual(["keep-alive", "close"]);
    expect(text).toContain('"url":"/hold/p1"');
    expect(text).toContain('"url":"/hold/p2"');
  });

  it("puts close in a 403 queued behind an upstream answer", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write(get("/hold/b") + get("/deny/x"));
    await waitFor(() => upstream.holding().includes("/hold/b"));
    proxy.drainAll();
    upstream.release("/hold/b");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200, 403]);
    expect(connectionHeaders(text)).toEqual(["keep-alive", "close"]);
    const denied = text.slice(text.indexOf("HTTP/1.1 403"));
    expect(denied).toBe(DENIED_403(replyDate(denied), "connection: close\r\n"));
  });

  it("drops keep-alive for an HTTP/1.0 client that asked to keep the connection", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write("GET /hold/old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
    await waitFor(() => upstream.holding().includes("/hold/old"));
    proxy.drainAll();
    upstream.release("/hold/old");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200]);
    expect(connectionHeaders(text)).toEqual(["close"]);
    expect(text.toLowerCase()).not.toContain("connection: keep-alive");
  });

  it("answers a request whose head was arriving when drain() was called, with close", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    // One write: once the first answer is back, the proxy has read the start of the second head.
    c.write(get("/echo/1") + "GET /echo/late HTTP/1.1\r\nHost: h\r\n");
    await c.until((t) => t.endsWith("0\r\n\r\n"));
    proxy.drainAll();
    c.write("\r\n");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200, 200]);
    expect(connectionHeaders(text)).toEqual(["keep-alive", "close"]);
    expect(text).toContain('"url":"/echo/late"');
  });

  it("sees opts.draining() turn true when the answer arrives, without drain()", async () => {
    let draining = false;
    proxy = await startProxy(upstream.port, { draining: () => draining });
    const c = await RawClient.open(proxy.port);
    c.write(get("/hold/flag"));
    await waitFor(() => upstream.holding().includes("/hold/flag"));
    draining = true;
    upstream.release("/hold/flag");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200]);
    expect(connectionHeaders(text)).toEqual(["close"]);
  });

  it("does not read requests sent after the last one was chosen", async () => {
    proxy = await startProxy(upstream.port);
    const c = await RawClient.open(proxy.port);
    c.write(get("/hold/only"));
    await waitFor(() => upstream.holding().includes("/hold/only"));
    proxy.drainAll();
    c.write(get("/echo/after"));
    upstream.release("/hold/only");
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200]);
    expect(upstream.received().toString("latin1")).not.toContain("/echo/after");
  });
});

describe("maxPipelined", () => {
  it("decides and forwards no more than maxPipelined requests ahead of their answers", async () => {
    proxy = await startProxy(upstream.port, { maxPipelined: 2 });
    const c = await RawClient.open(proxy.port);
    const paths = [1, 2, 3, 4, 5].map((i) => `/hold/q${i}`);
    // One write, so the proxy gets all five requests in one read.
    c.write(paths.map((p) => get(p)).join(""));
    await waitFor(() => upstream.holding().length === 2);
    const forwarded = () => upstream.received().toString("latin1");
    expect(forwarded()).toContain("/hold/q2");
    expect(forwarded()).not.toContain("/hold/q3");
    for (let i = 0; i < paths.length; i++) {
      await waitFor(() => upstream.holding().includes(paths[i]!));
      if (i + 2 < paths.length) expect(forwarded()).not.toContain(paths[i + 2]);
      upstream.release(paths[i]!);
    }
    const text = await c.until((t) => statusLines(t).length === 5);
    expect(statusLines(text)).toEqual([200, 200, 200, 200, 200]);
    expect([...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1])).toEqual(paths);
    expect(c.closed).toBe(false);
    c.close();
  });

  it("answers every held request of a client that already shut down its side", async () => {
    proxy = await startProxy(upstream.port, { maxPipelined: 2 });
    const c = await RawClient.open(proxy.port);
    const paths = [1, 2, 3, 4].map((i) => `/echo/e${i}`);
    c.write(paths.map((p) => get(p)).join(""));
    c.socket.end();
    const text = await c.untilClosed();
    expect(statusLines(text)).toEqual([200, 200, 200, 200]);
    expect([...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1])).toEqual(paths);
  });
});
