import { describe, expect, it } from "vitest";
import { IsoTime } from "../../../src/telemetry/iso-time.js";

describe("IsoTime", () => {
  it("formats like Date.prototype.toISOString across millisecond, second, day and year boundaries", () => {
    const t = new IsoTime();
    const starts = [0, Date.UTC(2026, 10, 22, 23, 59, 59, 990), Date.UTC(2027, 11, 31, 23, 59, 59, 995), Date.UTC(2028, 1, 29, 12, 0, 0, 0)];
    for (const start of starts) {
      for (let ms = start; ms < start + 1500; ms += 3) expect(t.format(ms)).toBe(new Date(ms).toISOString());
    }
    // Going back in time (a clock step) is formatted correctly too.
    expect(t.format(starts[1]!)).toBe(new Date(starts[1]!).toISOString());
  });

  it("pads milliseconds: .005 and .050, not .5", () => {
    const t = new IsoTime();
    expect(t.format(Date.UTC(2026, 0, 1, 0, 0, 0, 5))).toBe("2026-01-01T00:00:00.005Z");
    expect(t.format(Date.UTC(2026, 0, 1, 0, 0, 0, 50))).toBe("2026-01-01T00:00:00.050Z");
  });
});
