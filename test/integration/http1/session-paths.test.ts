// Policy decides on the normalized path, and the upstream receives exactly that path: real
// sockets, the recording upstream of the harness (test policy: /deny* is denied).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DENIED_403, RawClient, replyDate, startProxy, startUpstream, statusLines, type Proxy, type Recorder } from "./harness.js";

let upstream: Recorder;
let proxy: Proxy;
const decided: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(upstream.port, {
    decide: (head) => {
      decided.push(head.path);
      const denied = head.path.startsWith("/deny");
      return { allowed: !denied, headerOps: head.path.startsWith("/ops") ? [{ op: "add", name: "X-Added", value: "1" }] : [] };
    },
  });
});

afterAll(async () => {
  await proxy.close();
  await upstream.close();
});

/** Sends one request on a fresh connection and returns what came back once it closed. */
async function exchange(request: string): Promise<string> {
  const c = await RawClient.open(proxy.port);
  c.write(request);
  return c.untilClosed();
}

const forwarded = () => upstream.received().toString("latin1");

describe("path normalization on the data path", () => {
  it("decides /public/../deny as /deny: denied, nothing forwarded", async () => {
    const before = forwarded().length;
    const out = await exchange("GET /public/../deny/admin HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(out).toBe(DENIED_403(replyDate(out), "connection: close\r\n"));
    expect(decided.at(-1)).toBe("/deny/admin");
    expect(forwarded().length).toBe(before);
  });

  it("decides encoded dot segments and unreserved escapes on their decoded form", async () => {
    const out = await exchange("GET /echo/%2e%2e/%64eny HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(statusLines(out)).toEqual([403]);
    expect(decided.at(-1)).toBe("/deny");
  });

  it("forwards the normalized target, the rest of the head byte for byte, the query as sent", async () => {
    const head = "GET /echo/./a//b/../%41%2d?q=/../x//y&z=%2F HTTP/1.1\r\nHost: h\r\nX-Keep:  v \r\nConnection: close\r\n\r\n";
    const out = await exchange(head);
    expect(statusLines(out)).toEqual([200]);
    const want = head.replace("/echo/./a//b/../%41%2d?q=/../x//y&z=%2F", "/echo/a/A-?q=/../x//y&z=%2F");
    expect(forwarded().endsWith(want)).toBe(true);
    expect(out).toContain('"url":"/echo/a/A-?q=/../x//y&z=%2F"');
    expect(proxy.records.at(-1)!.url).toBe("/echo/a/A-?q=/../x//y&z=%2F");
  });

  it("rebuilds the request line under header ops too", async () => {
    const out = await exchange("POST /ops/x/../y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    expect(statusLines(out)).toEqual([200]);
    expect(forwarded().endsWith("POST /ops/y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\nX-Added: 1\r\n\r\nabc")).toBe(true);
  });

  it("keeps the scheme and authority of an absolute-form target", async () => {
    const out = await exchange("GET http://example.test//echo/./abs HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(statusLines(out)).toEqual([200]);
    expect(forwarded().endsWith("GET http://example.test/echo/abs HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).toBe(true);
  });

  it("answers Envoy's 307 to the unescaped path for %2F and %5C, forwarding nothing", async () => {
    const before = forwarded().length;
    const c = await RawClient.open(proxy.port);
    c.write("GET /echo%2F..%2fdeny%5Cx?a=%2F HTTP/1.1\r\nHost: h\r\n\r\n");
    const out = await c.until((t) => t.endsWith("\r\n\r\n"));
    const date = replyDate(out);
    expect(out).toBe(`HTTP/1.1 307 Temporary Redirect\r\nlocation: /deny/x?a=%2F\r\ncontent-length: 0\r\ndate: ${date}\r\n\r\n`);
    expect(forwarded().length).toBe(before);
    // The connection stays usable, and the redirected path is decided like any other.
    c.write("GET /deny/x?a=%2F HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    const all = await c.untilClosed();
    expect(statusLines(all)).toEqual([307, 403]);
    expect(forwarded().length).toBe(before);
  });

  it("answers 400 to malformed percent-encoding and closes, forwarding nothing", async () => {
    for (const target of ["/echo/%zz", "/echo/%00", "/echo#x", "/echo/%4"]) {
      const before = forwarded().length;
      const out = await exchange(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
      expect(out).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(out).toContain("connection: close");
      expect(forwarded().length).toBe(before);
    }
    expect(proxy.parseErrors.at(-1)).toBe("L7P_ERR_HTTP_PATH");
  });

  it("passes an already normal target byte for byte", async () => {
    const head = "GET /echo/static/app.min.js?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    await exchange(head);
    expect(forwarded().endsWith(head)).toBe(true);
  });
});
