import { describe, expect, it } from "vitest";
import { deniedResponse, errorResponse, httpDate } from "../../../../src/datapath/http1/local-replies.js";

describe("local replies", () => {
  it("writes the exact 403 Envoy writes for a denied request", () => {
    const date = httpDate();
    expect(deniedResponse({ headOnly: false, connection: null }).toString()).toBe(
      `HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\ndate: ${date}\r\n\r\nAccess denied\r\n`,
    );
  });

  it("sends headers only for HEAD and says connection: close only when closing", () => {
    const date = httpDate();
    expect(deniedResponse({ headOnly: true, connection: "close" }).toString()).toBe(
      `HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\ndate: ${date}\r\nconnection: close\r\n\r\n`,
    );
  });

  it("uses an IMF-fixdate", () => {
    expect(httpDate(Date.UTC(2024, 2, 5, 10, 0, 0))).toBe("Tue, 05 Mar 2024 10:00:00 GMT");
  });

  it("closes after error replies", () => {
    for (const s of [400, 431, 505, 503] as const) {
      const text = errorResponse(s).toString();
      expect(text.startsWith(`HTTP/1.1 ${s} `)).toBe(true);
      expect(text).toContain("\r\nconnection: close\r\n");
      const [head, body] = text.split("\r\n\r\n") as [string, string];
      expect(head).toContain(`content-length: ${Buffer.byteLength(body)}`);
    }
  });
});
