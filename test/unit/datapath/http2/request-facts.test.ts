import { describe, expect, test } from "vitest";
import { forwardHeaders } from "../../../../src/datapath/http2/forward-headers.js";
import { requestFactsOf, type Http2RequestFacts } from "../../../../src/datapath/http2/request-facts.js";

const req = (path: string, extra: string[] = [], method = "GET") => [":method", method, ":scheme", "http", ":path", path, ":authority", "api.local:50051", ...extra];

function facts(raw: string[]): Http2RequestFacts {
  const r = requestFactsOf(raw);
  if (!("header" in r)) throw new Error(`refused: ${r.message}`);
  return r;
}

describe("HTTP/2 request facts", () => {
  test("method, :authority as host, and headers joined like HTTP/1's", () => {
    const r = facts(req("/cloudcity.DoorManager/GetName", ["x-a", "1", "content-type", "application/grpc", "x-a", "2"], "POST"));
    expect([r.method, r.path, r.host]).toEqual(["POST", "/cloudcity.DoorManager/GetName", "api.local:50051"]);
    expect(r.header("x-a")).toBe("1,2");
    expect(r.header("content-type")).toBe("application/grpc");
    expect(r.header("x-missing")).toBeUndefined();
  });

  test("the Host header stands in for a missing :authority", () => {
    expect(facts([":method", "GET", ":scheme", "http", ":path", "/", "host", "h.local"]).host).toBe("h.local");
  });

  test(":path is normalized exactly as an HTTP/1 target, the query kept", () => {
    expect(facts(req("/a/./b/../c//d?x=/../y")).path).toBe("/a/c/d?x=/../y");
    expect(facts(req("/%61pi/%7e")).path).toBe("/api/~");
    const slashes = facts(req("/a%2Fb"));
    expect([slashes.path, slashes.escapedSlashes]).toEqual(["/a/b", true]);
  });

  test("paths HTTP/1 refuses are refused here too", () => {
    for (const p of ["/a#b", "/%zz", "/%00", "a/b", "/a b", "/\u0001"]) {
      const r = requestFactsOf(req(p));
      expect("code" in r ? r.code : "accepted").toBe("L7P_ERR_HTTP_PATH");
    }
  });

  test("CONNECT (and extended CONNECT) is refused", () => {
    const r = requestFactsOf([":method", "CONNECT", ":authority", "x:443"]);
    expect("code" in r && r.code).toBe("L7P_ERR_HTTP_METHOD");
    const ext = requestFactsOf([...req("/chat", [], "CONNECT"), ":protocol", "websocket"]);
    expect("code" in ext && ext.code).toBe("L7P_ERR_HTTP_METHOD");
  });
});

describe("forwarded headers", () => {
  test("the normalized :path goes upstream, field lines otherwise as received", () => {
    const r = facts(req("/a/../b", ["x-a", "1", "x-a", "2"]));
    expect(forwardHeaders(r, []).headers).toEqual({ ":method": "GET", ":scheme": "http", ":path": "/b", ":authority": "api.local:50051", "x-a": ["1", "2"] });
  });

  test("headerMatches actions: add, delete, replace; content-length untouched", () => {
    const r = facts(req("/", ["x-a", "1", "x-a", "2", "x-b", "b", "content-length", "3"], "POST"));
    const out = forwardHeaders(r, [
      { op: "add", name: "X-C", value: "c" },
      { op: "delete", name: "x-b" },
      { op: "replace", name: "x-a", value: "new" },
      { op: "replace", name: "x-d", value: "d" },
      { op: "replace", name: "content-length", value: "0" },
    ]);
    expect(out.headers).toMatchObject({ "x-a": "new", "x-c": "c", "x-d": "d", "content-length": "3" });
    expect(out.headers["x-b"]).toBeUndefined();
    expect(out.skipped).toEqual(["replace content-length: framing header left unchanged"]);
  });
});
