import { describe, expect, it } from "vitest";
import { withConnectionClose } from "../../../../src/datapath/http1/response-close.js";

const close = (s: string) => withConnectionClose(Buffer.from(s, "latin1")).toString("latin1");

describe("Connection: close on a response head", () => {
  it("replaces keep-alive, every other line byte for byte", () => {
    const h = "HTTP/1.1 200 OK\r\nDate: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A:  b \r\nContent-Length: 2\r\n\r\n";
    expect(close(h)).toBe(h.replace("Connection: keep-alive", "Connection: close"));
  });

  it("appends the header when the head has none", () => {
    expect(close("HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n")).toBe("HTTP/1.1 204 No Content\r\nServer: s\r\nconnection: close\r\n\r\n");
  });

  it("keeps other connection options, dropping keep-alive wherever it is listed", () => {
    const h = "HTTP/1.1 200 OK\r\nconnection: Keep-Alive, X-Hop\r\nA: 1\r\nCONNECTION: keep-alive\r\nConnection: upgrade\r\n\r\n";
    expect(close(h)).toBe("HTTP/1.1 200 OK\r\nconnection: close, X-Hop\r\nA: 1\r\nConnection: upgrade\r\n\r\n");
  });

  it("keeps a head with no header fields valid", () => {
    expect(close("HTTP/1.0 200 OK\r\n\r\n")).toBe("HTTP/1.0 200 OK\r\nconnection: close\r\n\r\n");
  });
});
