import { describe, expect, it } from "vitest";
import { DnsTcpFramer, frameTcp } from "../../../../src/datapath/dns/dns-tcp-framer.js";

describe("DNS over TCP framing", () => {
  it("splits messages however the stream cuts them", () => {
    const a = Buffer.from("aaaaaaaaaaaaaa");
    const b = Buffer.from("bbbbbbbbbbbbbbbbbbbb");
    const stream = Buffer.concat([frameTcp(a), frameTcp(b)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new DnsTcpFramer();
      const first = f.push(stream.subarray(0, cut));
      const second = f.push(stream.subarray(cut));
      expect(first).not.toBe("malformed");
      expect([...(first as Buffer[]), ...(second as Buffer[])]).toEqual([a, b]);
      expect(f.buffered).toBe(0);
    }
  });

  it("refuses a zero length", () => {
    expect(new DnsTcpFramer().push(Buffer.from([0, 0, 1]))).toBe("malformed");
  });
});
