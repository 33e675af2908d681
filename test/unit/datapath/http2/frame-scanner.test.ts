import { describe, expect, test } from "vitest";
import { FrameScanner, type FrameSink } from "../../../../src/datapath/http2/frame-scanner.js";
import { prng } from "../../../support/prng.js";
import * as f from "../../../support/h2-frames.js";

class Collect implements FrameSink {
  frames: [number, number, number, number, number, number][] = [];
  stopAt = -1;
  frame(type: number, flags: number, streamId: number, length: number, w0: number, w1: number): boolean {
    this.frames.push([type, flags, streamId, length, w0, w1]);
    return this.frames.length !== this.stopAt;
  }
}

const STREAM = Buffer.concat([
  f.PREFACE,
  f.settings([[3, 100]]),
  f.headers(1, f.requestBlock("/a"), f.END_HEADERS),
  f.data(1, Buffer.alloc(20_000, 7), f.END_STREAM),
  f.rstStream(3, 0x8),
  f.goaway(7, 0x1),
  f.ping(true),
]);
const EXPECTED = [
  [f.T.SETTINGS, 0, 0, 6, 0, 0],
  [f.T.HEADERS, f.END_HEADERS, 1, f.requestBlock("/a").length, 0, 0],
  [f.T.DATA, f.END_STREAM, 1, 20_000, 0, 0],
  [f.T.RST_STREAM, 0, 3, 4, 0x8, 0],
  [f.T.GOAWAY, 0, 0, 8, 7, 0x1],
  [f.T.PING, 1, 0, 8, 0, 0],
];

describe("frame scanner", () => {
  test("reads every frame header, with the error codes of RST_STREAM and GOAWAY", () => {
    const c = new Collect();
    expect(new FrameScanner(c, 24).push(STREAM)).toBe(true);
    expect(c.frames).toEqual(EXPECTED);
  });

  test("the same frames whatever the chunking (byte by byte, random splits)", () => {
    const one = new Collect();
    const s1 = new FrameScanner(one, 24);
    for (let i = 0; i < STREAM.length; i++) s1.push(STREAM.subarray(i, i + 1));
    expect(one.frames).toEqual(EXPECTED);
    const rnd = prng(7);
    for (let round = 0; round < 50; round++) {
      const c = new Collect();
      const s = new FrameScanner(c, 24);
      let i = 0;
      while (i < STREAM.length) {
        const n = 1 + Math.floor(rnd() * 40);
        s.push(STREAM.subarray(i, i + n));
        i += n;
      }
      expect(c.frames).toEqual(EXPECTED);
    }
  });

  test("stops when the sink says so and looks at nothing after", () => {
    const c = new Collect();
    c.stopAt = 2;
    const s = new FrameScanner(c, 24);
    expect(s.push(STREAM)).toBe(false);
    expect(c.frames).toHaveLength(2);
    expect(s.push(f.ping())).toBe(false);
    expect(c.frames).toHaveLength(2);
  });
});
