import { describe, expect, test } from "vitest";
import { ClientFrameGuard, type ClientFrameLimits } from "../../../../src/datapath/http2/client-frame-guard.js";
import { EndStreamLedger } from "../../../../src/datapath/http2/end-stream-ledger.js";
import { FrameScanner } from "../../../../src/datapath/http2/frame-scanner.js";
import * as f from "../../../support/h2-frames.js";

const LIMITS: ClientFrameLimits = { maxHeaderBlockBytes: 65_536, maxContinuations: 8, maxControlPerSecond: 100, resetMinStreams: 500 };

function run(bytes: Buffer[], limits = LIMITS, clock = { now: 0 }) {
  const ledger = new EndStreamLedger(1000);
  const guard = new ClientFrameGuard(limits, ledger, () => clock.now);
  const ok = new FrameScanner(guard, 24).push(Buffer.concat([f.PREFACE, f.settings(), ...bytes]));
  return { ok, guard, ledger };
}

describe("client frame guard", () => {
  test("ordinary traffic passes, and END_STREAM is recorded per stream", () => {
    const { ok, ledger } = run([
      f.headers(1, f.requestBlock("/"), f.END_HEADERS | f.END_STREAM),
      f.headers(3, f.requestBlock("/"), f.END_HEADERS),
      f.data(3, Buffer.from("x")),
      f.headers(5, f.requestBlock("/"), f.END_HEADERS),
      f.data(5, Buffer.from("x"), f.END_STREAM),
      f.ping(),
      f.settings([], true),
    ]);
    expect(ok).toBe(true);
    expect([ledger.take(1), ledger.take(3), ledger.take(5)]).toEqual([true, false, true]);
  });

  test("rapid reset: half the streams reset once enough were opened", () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 600; i++) frames.push(f.headers(1 + 2 * i, f.requestBlock("/"), f.END_HEADERS | f.END_STREAM), f.rstStream(1 + 2 * i));
    const { ok, guard } = run(frames);
    expect(ok).toBe(false);
    expect(guard.violation?.code).toBe("L7P_ERR_H2_RAPID_RESET");
    expect(guard.violation?.h2Code).toBe(0xb);
  });

  test("a client cancelling a few of many streams is fine", () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      frames.push(f.headers(1 + 2 * i, f.requestBlock("/"), f.END_HEADERS | f.END_STREAM));
      if (i % 10 === 0) frames.push(f.rstStream(1 + 2 * i));
    }
    expect(run(frames).ok).toBe(true);
  });

  test("CONTINUATION flood: too many frames, or too many bytes, in one header block", () => {
    const many = [f.headers(1, f.requestBlock("/"), f.END_STREAM)];
    for (let i = 0; i < 9; i++) many.push(f.continuation(1, f.literal(`x-${i}`, "v")));
    expect(run(many).guard.violation?.code).toBe("L7P_ERR_H2_CONTINUATION_FLOOD");
    const big = [f.headers(1, f.requestBlock("/"), f.END_STREAM)];
    for (let i = 0; i < 5; i++) big.push(f.continuation(1, f.literal(`x-${i}`, "v".repeat(16_000))));
    expect(run(big).guard.violation?.code).toBe("L7P_ERR_H2_CONTINUATION_FLOOD");
    const fine = [f.headers(1, f.requestBlock("/"), f.END_STREAM)];
    for (let i = 0; i < 3; i++) fine.push(f.continuation(1, f.literal(`x-${i}`, "v".repeat(1000))));
    fine.push(f.continuation(1, f.literal("x-last", "v"), f.END_HEADERS));
    expect(run(fine).ok).toBe(true);
  });

  test("a frame other than CONTINUATION inside a header block is a protocol error", () => {
    const { ok, guard } = run([f.headers(1, f.requestBlock("/"), f.END_STREAM), f.ping()]);
    expect(ok).toBe(false);
    expect(guard.violation?.code).toBe("L7P_ERR_H2_PROTOCOL");
  });

  test("SETTINGS and PING floods: more than the limit within a second; ACKs are free", () => {
    const settings = Array.from({ length: 101 }, () => f.settings([[3, 100]]));
    expect(run(settings).guard.violation?.code).toBe("L7P_ERR_H2_SETTINGS_FLOOD");
    const pings = Array.from({ length: 101 }, () => f.ping());
    expect(run(pings).guard.violation?.code).toBe("L7P_ERR_H2_PING_FLOOD");
    expect(run(Array.from({ length: 1000 }, () => f.ping(true))).ok).toBe(true);
  });

  test("the control-frame limit is per second", () => {
    const clock = { now: 0 };
    const ledger = new EndStreamLedger(10);
    const guard = new ClientFrameGuard(LIMITS, ledger, () => clock.now);
    const s = new FrameScanner(guard, 24);
    s.push(f.PREFACE);
    for (let sec = 0; sec < 5; sec++) {
      clock.now = sec * 1000;
      expect(s.push(Buffer.concat(Array.from({ length: 90 }, () => f.ping())))).toBe(true);
    }
  });
});
