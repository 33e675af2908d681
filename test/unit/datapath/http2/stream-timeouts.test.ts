// The stream clocks: the gRPC deadline a grpc-timeout sets (capped), and the connection's route
// clock, which fires each stream's timeout once, in order, and never for a stream taken off it.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { Deadline, grpcDeadlineMs, RouteClock } from "../../../../src/datapath/http2/stream-timeouts.js";

describe("grpcDeadlineMs", () => {
  test("the header's value, capped by --max-grpc-timeout-ms when that is not 0", () => {
    expect(grpcDeadlineMs("200m", 0)).toBe(200);
    expect(grpcDeadlineMs("10S", 0)).toBe(10_000);
    expect(grpcDeadlineMs("10S", 500)).toBe(500);
    expect(grpcDeadlineMs("100m", 500)).toBe(100);
    expect(grpcDeadlineMs("0m", 500)).toBe(0);
  });

  test("no header, or a malformed one: no deadline, and the cap does not apply either (Envoy)", () => {
    expect(grpcDeadlineMs(undefined, 500)).toBeNull();
    expect(grpcDeadlineMs("soon", 500)).toBeNull();
    expect(grpcDeadlineMs("123456789m", 0)).toBeNull();
  });
});

describe("clocks", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test("RouteClock: each stream expires once, timeoutMs after it started, in order", () => {
    const clock = new RouteClock(1000);
    const fired: string[] = [];
    const a = () => fired.push("a");
    const b = () => fired.push("b");
    const c = () => fired.push("c");
    clock.start(a);
    vi.advanceTimersByTime(300);
    clock.start(b);
    clock.start(b); // started twice: still one deadline, the first
    vi.advanceTimersByTime(300);
    clock.start(c);
    vi.advanceTimersByTime(399);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["a"]);
    clock.stop(b); // completed in time
    vi.advanceTimersByTime(600);
    expect(fired).toEqual(["a", "c"]);
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual(["a", "c"]);
  });

  test("RouteClock: a stream taken off the front does not expire the next one early", () => {
    const clock = new RouteClock(1000);
    const fired: string[] = [];
    const a = () => fired.push("a");
    const b = () => fired.push("b");
    clock.start(a);
    vi.advanceTimersByTime(500);
    clock.start(b);
    clock.stop(a);
    vi.advanceTimersByTime(999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["b"]);
  });

  test("RouteClock: 0 is no timeout; close() stops every clock", () => {
    const fired: string[] = [];
    const off = new RouteClock(0);
    off.start(() => fired.push("off"));
    const clock = new RouteClock(100);
    clock.start(() => fired.push("closed"));
    clock.close();
    clock.start(() => fired.push("after close"));
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual([]);
  });

  test("Deadline: fires after its time, also past setTimeout's 2^31-1 ms; cancel() stops it", () => {
    const fired: string[] = [];
    new Deadline(0, () => fired.push("zero"));
    new Deadline(50, () => fired.push("50"));
    const cancelled = new Deadline(60, () => fired.push("cancelled"));
    cancelled.cancel();
    const long = 3 * 2_147_483_647;
    new Deadline(long, () => fired.push("long"));
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(["zero", "50"]);
    vi.advanceTimersByTime(long - 200);
    expect(fired).toEqual(["zero", "50"]);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(["zero", "50", "long"]);
  });
});
