import { describe, expect, test } from "vitest";
import { ResponseParseError, ResponseParser } from "../../../../bench/load/loadgen/response-parser.js";

function collect(): { seen: Array<[number, boolean]>; parser: ResponseParser } {
  const seen: Array<[number, boolean]> = [];
  return { seen, parser: new ResponseParser((s, c) => seen.push([s, c])) };
}

const ok = (body: string, extra = ""): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe("ResponseParser", () => {
  test("counts pipelined responses in one chunk, with their statuses", () => {
    const { seen, parser } = collect();
    parser.feed(Buffer.from(ok("hello") + "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\n\r\nAccess denied\r\n" + ok("")));
    expect(seen).toEqual([[200, false], [403, false], [200, false]]);
    expect(parser.idle).toBe(true);
  });

  test("a response split at every byte is still one response", () => {
    const { seen, parser } = collect();
    const bytes = Buffer.from(ok("x".repeat(100)));
    for (let i = 0; i < bytes.length; i++) parser.feed(bytes.subarray(i, i + 1));
    expect(seen).toEqual([[200, false]]);
  });

  test("a large body is skipped across chunks and the response completes at its last byte", () => {
    const { seen, parser } = collect();
    const body = "y".repeat(65536);
    const all = Buffer.from(ok(body));
    parser.feed(all.subarray(0, 1000));
    parser.feed(all.subarray(1000, all.length - 1));
    expect(seen).toEqual([]);
    expect(parser.idle).toBe(false);
    parser.feed(all.subarray(all.length - 1));
    expect(seen).toEqual([[200, false]]);
  });

  test("chunked bodies, including trailers", () => {
    const { seen, parser } = collect();
    parser.feed(Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"));
    parser.feed(Buffer.from(ok("z")));
    expect(seen).toEqual([[200, false], [200, false]]);
  });

  test("reports connection: close", () => {
    const { seen, parser } = collect();
    parser.feed(Buffer.from(ok("", "Connection: close\r\n")));
    expect(seen).toEqual([[200, true]]);
  });

  test("rejects what it cannot frame", () => {
    expect(() => collect().parser.feed(Buffer.from("HTTP/1.1 200 OK\r\n\r\nbody until close"))).toThrow(ResponseParseError);
    expect(() => collect().parser.feed(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n"))).toThrow(ResponseParseError);
  });
});
