import { describe, expect, it } from "vitest";
import { applyHeaderOps } from "../../../../src/datapath/http1/head-rewrite.js";
import { RequestHead, parseRequestHead } from "../../../../src/datapath/http1/request-head.js";

function head(s: string): RequestHead {
  const buf = Buffer.from(s, "latin1");
  const h = parseRequestHead(buf, 0, buf.length, { maxHeaders: 100 });
  if (!(h instanceof RequestHead)) throw new Error(h.message);
  return h;
}

const H = "GET /x HTTP/1.1\r\nHost: h\r\nX-Token:  old \r\nAccept: */*\r\nx-token: second\r\nContent-Length: 3\r\n\r\n";

describe("header ops on the forwarded head", () => {
  it("adds another value, keeping every original line byte for byte", () => {
    const r = applyHeaderOps(head(H), [{ op: "add", name: "X-Token", value: "new" }]);
    expect(r.raw.toString()).toBe(H.replace(/\r\n\r\n$/, "\r\nX-Token: new\r\n\r\n"));
  });

  it("deletes every line of a header", () => {
    const r = applyHeaderOps(head(H), [{ op: "delete", name: "x-TOKEN" }]);
    expect(r.raw.toString()).toBe("GET /x HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 3\r\n\r\n");
  });

  it("replaces the first line in place and drops the rest, or appends when absent", () => {
    const r = applyHeaderOps(head(H), [
      { op: "replace", name: "X-Token", value: "v" },
      { op: "replace", name: "X-New", value: "n" },
    ]);
    expect(r.raw.toString()).toBe("GET /x HTTP/1.1\r\nHost: h\r\nX-Token: v\r\nAccept: */*\r\nContent-Length: 3\r\nX-New: n\r\n\r\n");
  });

  it("never changes framing headers", () => {
    const r = applyHeaderOps(head(H), [{ op: "delete", name: "Content-Length" }]);
    expect(r.raw.toString()).toBe(H);
    expect(r.skipped).toHaveLength(1);
  });

  it("refuses values that would inject lines", () => {
    expect(() => applyHeaderOps(head(H), [{ op: "add", name: "X", value: "a\r\nEvil: 1" }])).toThrow(/invalid value/);
    expect(() => applyHeaderOps(head(H), [{ op: "add", name: "X Y", value: "a" }])).toThrow(/invalid name/);
  });

  it("yields a head that parses to the same request", () => {
    const r = applyHeaderOps(head(H), [{ op: "replace", name: "Accept", value: "text/plain" }]);
    const again = head(r.raw.toString("latin1"));
    expect([again.method, again.target, again.contentLength, again.header("accept")]).toEqual(["GET", "/x", 3, "text/plain"]);
  });
});
