import { describe, expect, it } from "vitest";
import { prng } from "../../../support/prng.js";
import { bytewise, frameRequests, randomSplit } from "./framer-driver.js";

const b = (s: string) => Buffer.from(s, "latin1");

describe("request framer: framing", () => {
  it("parses a GET head and ends the request at the empty line", () => {
    const r = frameRequests([b("GET /a?b=1 HTTP/1.1\r\nHost: x.test:8080\r\nUser-Agent: t\r\n\r\n")]);
    expect(r.error).toBeNull();
    expect(r.requests).toHaveLength(1);
    const h = r.requests[0]!.head;
    expect([h.method, h.target, h.path, h.host, h.minorVersion]).toEqual(["GET", "/a?b=1", "/a?b=1", "x.test:8080", 1]);
    expect([h.framing, h.keepAlive, h.expectContinue, h.upgrade]).toEqual(["none", true, false, false]);
    expect(r.requests[0]!.ended).toBe(true);
  });

  it("frames a Content-Length body and the pipelined request after it", () => {
    const r = frameRequests([b("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /n HTTP/1.1\r\nHost: h\r\n\r\n")]);
    expect(r.requests.map((q) => [q.head.method, q.body.toString(), q.ended])).toEqual([
      ["POST", "hello", true],
      ["GET", "", true],
    ]);
    expect(r.requests[0]!.head.contentLength).toBe(5);
  });

  it("passes a chunked body through verbatim, extensions and trailers included", () => {
    const body = "5;name=\"v\" ; x\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer-One: 1\r\nX: y\r\n\r\n";
    const r = frameRequests([b(`POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET / HTTP/1.1\r\nHost: h\r\n\r\n`)]);
    expect(r.error).toBeNull();
    expect(r.requests[0]!.head.framing).toBe("chunked");
    expect(r.requests[0]!.body.toString("latin1")).toBe(body);
    expect(r.requests[1]!.ended).toBe(true);
  });

  it("treats Content-Length: 0 as no body", () => {
    const r = frameRequests([b("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")]);
    expect(r.requests[0]!.head.framing).toBe("none");
    expect(r.requests[0]!.ended).toBe(true);
  });

  it("applies HTTP/1.0 keep-alive rules: closes by default, stays open with keep-alive", () => {
    const closed = frameRequests([b("GET / HTTP/1.0\r\n\r\nGET /smuggled HTTP/1.0\r\n\r\n")]);
    expect(closed.requests).toHaveLength(1);
    expect(closed.requests[0]!.head.keepAlive).toBe(false);
    expect(closed.requests[0]!.head.host).toBe("");
    expect(closed.stopped).toBe("closed");
    expect(closed.rest.toString()).toBe("GET /smuggled HTTP/1.0\r\n\r\n");
    const kept = frameRequests([b("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")]);
    expect(kept.requests.map((q) => q.head.target)).toEqual(["/", "/2"]);
  });

  it("stops after Connection: close in HTTP/1.1", () => {
    const r = frameRequests([b("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\nGET /x HTTP/1.1\r\n")]);
    expect(r.requests[0]!.head.keepAlive).toBe(false);
    expect(r.stopped).toBe("closed");
  });

  it("flags Expect: 100-continue and upgrade requests, and pauses after an upgrade", () => {
    const e = frameRequests([b("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok")]);
    expect(e.requests[0]!.head.expectContinue).toBe(true);
    const u = frameRequests([
      b("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
    ]);
    expect(u.requests[0]!.head.upgrade).toBe(true);
    expect(u.stopped).toBe("paused");
    expect(u.rest.toString("latin1")).toBe("\x81\x05hello");
    const noConn = frameRequests([b("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n")]);
    expect(noConn.requests[0]!.head.upgrade).toBe(false);
  });

  it("takes host and path from an absolute-form target", () => {
    const r = frameRequests([b("GET http://api.test:81/v1/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")]);
    const h = r.requests[0]!.head;
    expect([h.host, h.path, h.target]).toEqual(["api.test:81", "/v1/x?q=1", "http://api.test:81/v1/x?q=1"]);
  });

  it("accepts OPTIONS * and ignores empty lines before a request line", () => {
    const r = frameRequests([b("\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")]);
    expect(r.requests[0]!.head.target).toBe("*");
  });

  it("looks headers up case-insensitively, joins repeats, trims OWS", () => {
    const r = frameRequests([b("GET / HTTP/1.1\r\nHost: h\r\nX-A:  one \t\r\nx-a: two\r\nX-Empty:\r\n\r\n")]);
    const h = r.requests[0]!.head;
    expect(h.header("x-a")).toBe("one,two");
    expect(h.header("x-empty")).toBe("");
    expect(h.header("x-missing")).toBeUndefined();
    expect(h.fieldCount).toBe(4);
    expect(h.fieldName(1)).toBe("X-A");
  });
});

interface Hostile {
  name: string;
  input: string;
  code: string;
  status: number;
  limits?: Record<string, number>;
}

const req = (fields: string, line = "GET / HTTP/1.1") => `${line}\r\nHost: h\r\n${fields}\r\n`;
const chunkedReq = (body: string) => `${req("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1")}${body}`;

const HOSTILE: Hostile[] = [
  { name: "Content-Length with Transfer-Encoding", input: req("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "Transfer-Encoding with Content-Length", input: req("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "duplicate identical Content-Length", input: req("Content-Length: 3\r\nContent-Length: 3\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "duplicate differing Content-Length", input: req("Content-Length: 3\r\nContent-Length: 4\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length list", input: req("Content-Length: 3, 3\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "signed Content-Length", input: req("Content-Length: +3\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "negative Content-Length", input: req("Content-Length: -1\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "hex Content-Length", input: req("Content-Length: 0x10\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "empty Content-Length", input: req("Content-Length:\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "huge Content-Length", input: req("Content-Length: 1234567890123456\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length with inner space", input: req("Content-Length: 1 2\r\n"), code: "L7P_ERR_HTTP_CONTENT_LENGTH", status: 400 },
  { name: "capitalised chunked", input: req("Transfer-Encoding: Chunked\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "coding list ending in chunked", input: req("Transfer-Encoding: gzip, chunked\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "chunked twice in one value", input: req("Transfer-Encoding: chunked, chunked\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "two Transfer-Encoding lines", input: req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "identity coding", input: req("Transfer-Encoding: identity\r\n"), code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "chunked with a vertical tab", input: req("Transfer-Encoding: \x0bchunked\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "Transfer-Encoding in HTTP/1.0", input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", code: "L7P_ERR_HTTP_TRANSFER_ENCODING", status: 400 },
  { name: "obs-fold", input: req("X-A: one\r\n two\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "obs-fold with tab", input: req("X-A: one\r\n\ttwo\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "bare LF ending a header", input: "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "bare LF ending the request line", input: "GET / HTTP/1.1\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "bare LF head end", input: "GET / HTTP/1.1\r\nHost: h\r\n\n", code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "bare CR inside a value", input: req("X-A: a\rb\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "bare CR ending the request line", input: "GET / HTTP/1.1\rHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "bare CR inside a name", input: req("X\r-A: 1\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "NUL in a value", input: req("X-A: a\x00b\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "NUL in the target", input: "GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "DEL in a value", input: req("X-A: a\x7fb\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "control byte in a name", input: req("X\x01A: 1\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "escape in the target", input: "GET /\x1b[31m HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "non-token method", input: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "double space in request line", input: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "tab as separator", input: "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "space before colon", input: req("Content-Length : 3\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "tab before colon", input: req("Transfer-Encoding\t: chunked\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "empty field name", input: req(": x\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "line without colon", input: req("garbage\r\n"), code: "L7P_ERR_HTTP_HEADER", status: 400 },
  { name: "HTTP/2.0 request line", input: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_VERSION", status: 505 },
  { name: "HTTP/1.2", input: "GET / HTTP/1.2\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_VERSION", status: 505 },
  { name: "HTTP/0.9 style line", input: "GET /\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "lower-case version", input: "GET / http/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "junk after version", input: "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "HTTP/1.1 without Host", input: "GET / HTTP/1.1\r\nX: y\r\n\r\n", code: "L7P_ERR_HTTP_HOST", status: 400 },
  { name: "two Host headers", input: req("Host: evil\r\n"), code: "L7P_ERR_HTTP_HOST", status: 400 },
  { name: "CONNECT", input: "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", code: "L7P_ERR_HTTP_METHOD", status: 400 },
  { name: "relative target without slash", input: "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "asterisk outside OPTIONS", input: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "oversized request line", input: `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: h\r\n\r\n`, code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431 },
  { name: "oversized request line without an end", input: `GET /${"a".repeat(9000)}`, code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431 },
  { name: "oversized header block", input: req(`X-Big: ${"b".repeat(70_000)}\r\n`), code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431 },
  { name: "oversized header block without an end", input: `GET / HTTP/1.1\r\nX: ${"b".repeat(70_000)}`, code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431 },
  { name: "configured header limit", input: req(`X-Big: ${"b".repeat(2000)}\r\n`), code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431, limits: { maxHeadBytes: 1024 } },
  { name: "too many headers", input: req("X: 1\r\n".repeat(101)), code: "L7P_ERR_HTTP_HEADER_TOO_LARGE", status: 431 },
  { name: "too many empty lines before the request", input: "\r\n".repeat(5) + req(""), code: "L7P_ERR_HTTP_REQUEST_LINE", status: 400 },
  { name: "chunk size not hex", input: chunkedReq("zz\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "negative chunk size", input: chunkedReq("-1\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk size with 0x prefix", input: chunkedReq("0x5\r\nhello\r\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "huge chunk size", input: chunkedReq("fffffffffffffffff\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "empty chunk size", input: chunkedReq("\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "bare LF after chunk size", input: chunkedReq("5\nhello\r\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk data longer than its size", input: chunkedReq("3\r\nhello\r\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk data without CRLF", input: chunkedReq("5\r\nhello0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk data ended by bare LF", input: chunkedReq("5\r\nhello\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "control byte in chunk extension", input: chunkedReq("5;a=\x01\r\nhello\r\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk extension without semicolon", input: chunkedReq("5 junk\r\nhello\r\n0\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "overlong chunk size line", input: chunkedReq(`5;${"a".repeat(5000)}\r\nhello\r\n0\r\n\r\n`), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "chunk extension flood", input: chunkedReq(`1;${"e".repeat(3000)}\r\nx\r\n`.repeat(6)), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "obs-fold in trailers", input: chunkedReq("0\r\nX: 1\r\n 2\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "malformed trailer", input: chunkedReq("0\r\nX 1\r\n\r\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
  { name: "bare LF ending chunked body", input: chunkedReq("0\r\n\n"), code: "L7P_ERR_HTTP_CHUNK", status: 400 },
];

describe("request framer: hostile input", () => {
  for (const h of HOSTILE) {
    it(`refuses ${h.name} (${h.status} ${h.code}), whole and byte by byte`, () => {
      for (const chunks of [[b(h.input)], bytewise(b(h.input))]) {
        const r = frameRequests(chunks, h.limits);
        expect(r.error, h.name).not.toBeNull();
        expect([r.error!.code, r.error!.status]).toEqual([h.code, h.status]);
        // A refused head never produces a request; a refused chunked body never ends one.
        expect(r.requests.every((q) => !q.ended || q.head.framing !== "chunked")).toBe(true);
        if (!h.code.includes("CHUNK")) expect(r.requests).toHaveLength(0);
      }
    });
  }

  it("refuses the oversized request line before its end arrives", () => {
    const r = frameRequests([b("GET /"), b("a".repeat(8190)), b("a".repeat(10))]);
    expect(r.error?.status).toBe(431);
  });
});

describe("request framer: any split of the stream frames the same requests", () => {
  const stream = b(
    "GET /one HTTP/1.1\r\nHost: a\r\n\r\n" +
      "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" +
      "PUT /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n" +
      "HEAD /four HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n" +
      "GET /five HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
      "GET /never HTTP/1.1\r\nHost: a\r\n\r\n",
  );
  const whole = frameRequests([stream]);

  it("frames the reference stream", () => {
    expect(whole.error).toBeNull();
    expect(whole.requests.map((q) => q.head.target)).toEqual(["/one", "/two", "/three", "/four", "/five"]);
    expect(whole.stopped).toBe("closed");
    // Pass-through: heads and bodies put back together give the stream itself.
    const rebuilt = Buffer.concat(whole.requests.flatMap((q) => [q.head.raw, q.body]));
    expect(Buffer.concat([rebuilt, whole.rest]).equals(stream)).toBe(true);
  });

  const summary = (r: ReturnType<typeof frameRequests>) =>
    r.requests.map((q) => [q.head.raw.toString("latin1"), q.body.toString("latin1"), q.ended, q.head.header("x-multi")]);

  it("byte by byte", () => {
    expect(summary(frameRequests(bytewise(stream)))).toEqual(summary(whole));
  });

  it("in 300 seeded random splits", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const r = frameRequests(randomSplit(stream, rand, 1 + Math.floor(rand() * 40)));
      expect(summary(r), `seed ${seed}`).toEqual(summary(whole));
      expect(r.rest.toString(), `seed ${seed}`).toBe(whole.rest.toString());
    }
  });

  it("a hostile request after valid ones errors at the same point for every split", () => {
    const bad = Buffer.concat([stream.subarray(0, stream.indexOf("HEAD")), b("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")]);
    for (let seed = 1; seed <= 100; seed++) {
      const rand = prng(seed);
      const r = frameRequests(randomSplit(bad, rand, 1 + Math.floor(rand() * 30)));
      expect(r.requests.map((q) => q.head.target)).toEqual(["/one", "/two", "/three"]);
      expect(r.error?.code).toBe("L7P_ERR_HTTP_TRANSFER_ENCODING");
    }
  });
});
