import { describe, expect, it } from "vitest";
import { prng } from "../../../support/prng.js";
import { bytewise, frameResponses, randomSplit } from "./framer-driver.js";

const b = (s: string) => Buffer.from(s, "latin1");
const GET = { isHead: false, upgrade: false };
const HEAD = { isHead: true, upgrade: false };
const UPG = { isHead: false, upgrade: true };

describe("response framer", () => {
  it("frames Content-Length, chunked, 204, 304 and HEAD responses back to back", () => {
    const stream =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n" +
      "HTTP/1.1 204 No Content\r\n\r\n" +
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" +
      "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx";
    const ctx = [GET, GET, GET, GET, HEAD, GET];
    const ref = frameResponses([b(stream)], ctx);
    expect(ref.error).toBeNull();
    expect(ref.responses.map((r) => [r.heads[0]!.status, r.body.toString(), r.ended])).toEqual([
      [200, "hello", true],
      [200, "4\r\nwiki\r\n0\r\n\r\n", true],
      [204, "", true],
      [304, "", true],
      [200, "", true],
      [200, "x", true],
    ]);
    const sum = (x: typeof ref) => x.responses.map((r) => [r.heads.map((h) => h.raw.toString()), r.body.toString(), r.ended]);
    expect(sum(frameResponses(bytewise(b(stream)), ctx))).toEqual(sum(ref));
    for (let seed = 1; seed <= 100; seed++) {
      const rand = prng(seed);
      expect(sum(frameResponses(randomSplit(b(stream), rand, 25), ctx)), `seed ${seed}`).toEqual(sum(ref));
    }
  });

  it("passes interim 100 and 103 heads before the final one", () => {
    const r = frameResponses([b("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")], [GET]);
    expect(r.responses[0]!.heads.map((h) => h.status)).toEqual([100, 103, 201]);
    expect(r.responses[0]!.ended).toBe(true);
  });

  it("turns a 101 to an upgrade request into a tunnel, keeping the bytes after the head", () => {
    const r = frameResponses([b("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi")], [UPG]);
    expect(r.responses[0]!.upgraded).toBe(true);
    expect(r.responses[0]!.body.toString("latin1")).toBe("\x81\x02hi");
  });

  it("refuses a 101 to a request that did not ask to upgrade", () => {
    const r = frameResponses([b("HTTP/1.1 101 Switching Protocols\r\n\r\n")], [GET]);
    expect(r.error?.code).toBe("L7P_ERR_HTTP_RESPONSE");
  });

  it("reads a response without length until the upstream closes", () => {
    const r = frameResponses([b("HTTP/1.0 200 OK\r\n\r\nsome"), b(" body")], [GET], true);
    expect(r.responses[0]!.body.toString()).toBe("some body");
    expect(r.responses[0]!.ended).toBe(true);
    expect(r.responses[0]!.heads[0]!.keepAlive).toBe(false);
    expect(r.truncated).toBe(false);
  });

  it("reports a Content-Length response cut short by close", () => {
    const r = frameResponses([b("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")], [GET], true);
    expect(r.truncated).toBe(true);
  });

  it("knows when the upstream keeps the connection", () => {
    const heads = frameResponses(
      [b("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")],
      [GET, GET],
    ).responses.map((r) => r.heads[0]!.keepAlive);
    expect(heads).toEqual([false, true]);
  });

  const BAD: [string, string][] = [
    ["conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"],
    ["Content-Length with Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["a bad status line", "HTTP/1.1 2000 OK\r\n\r\n"],
    ["HTTP/2 status line", "HTTP/2.0 200 OK\r\n\r\n"],
    ["bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"],
    ["a NUL in a header", "HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n"],
    ["a broken chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"],
    ["bytes nobody asked for", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"],
  ];
  for (const [name, input] of BAD) {
    it(`refuses ${name}`, () => {
      expect(frameResponses([b(input)], [GET]).error?.code).toBe("L7P_ERR_HTTP_RESPONSE");
    });
  }
});
