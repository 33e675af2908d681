import { describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../../src/errors/codes.js";
import { UdpSourcePool } from "../../../../src/datapath/dns/udp-source-pool.js";

class FakeSocket {
  closed = false;
  constructor(readonly ip: string) {}
  close(): void {
    this.closed = true;
  }
}

function pool(maxSockets: number, idleMs = 1000, failFor: string[] = []) {
  let now = 0;
  const opened: FakeSocket[] = [];
  const events: string[] = [];
  const inner = new UdpSourcePool<FakeSocket>({
    maxSockets,
    idleMs,
    now: () => now,
    events: {
      opened: (size) => events.push(`opened ${size}`),
      closed: (reason, size) => events.push(`closed ${reason} ${size}`),
      failed: (reason) => events.push(`failed ${reason}`),
    },
  });
  const open = (ip: string) => (): FakeSocket => {
    if (failFor.includes(ip)) throw new Error(`EADDRNOTAVAIL ${ip}`);
    const s = new FakeSocket(ip);
    opened.push(s);
    return s;
  };
  // acquire(key) opens with the key as the address, as the forwarder's open does with its parts.
  const p = {
    acquire: (ip: string) => inner.acquire(ip, open(ip)),
    release: (ip: string) => inner.release(ip),
    sweep: () => inner.sweep(),
    close: () => inner.close(),
    get size() {
      return inner.size;
    },
  };
  return { p, opened, events, advance: (ms: number) => (now += ms) };
}

describe("UdpSourcePool", () => {
  test("one socket per key (client and resolver), shared by its queries in flight", () => {
    const { p, opened } = pool(4);
    const a1 = p.acquire("10.0.0.1");
    const a2 = p.acquire("10.0.0.1");
    const b = p.acquire("fd00::2");
    expect(a1).toBe(a2);
    expect(b).not.toBe(a1);
    expect(opened.map((s) => s.ip)).toEqual(["10.0.0.1", "fd00::2"]);
    expect(p.size).toBe(2);
  });

  test("sockets idle for idleMs are closed by sweep; busy ones and recently used ones stay", () => {
    const { p, opened, advance } = pool(4, 1000);
    p.acquire("10.0.0.1");
    p.acquire("10.0.0.2");
    p.acquire("10.0.0.3");
    p.release("10.0.0.1");
    p.release("10.0.0.2");
    advance(999);
    expect(p.sweep()).toBe(0);
    advance(1);
    p.acquire("10.0.0.2");
    p.release("10.0.0.2");
    // .1 has been idle 1000 ms; .2 was used just now; .3 still has a query in flight.
    expect(p.sweep()).toBe(1);
    expect(opened.filter((s) => s.closed).map((s) => s.ip)).toEqual(["10.0.0.1"]);
    advance(5000);
    expect(p.sweep()).toBe(1);
    expect(opened.find((s) => s.ip === "10.0.0.3")!.closed).toBe(false);
    expect(p.size).toBe(1);
    // A closed address gets a new socket on its next query.
    const again = p.acquire("10.0.0.1");
    expect(again).not.toBe(opened[0]);
    expect(again.closed).toBe(false);
  });

  test("past the bound, the least recently used idle socket makes room", () => {
    const { p, opened } = pool(2);
    p.acquire("10.0.0.1");
    p.release("10.0.0.1");
    p.acquire("10.0.0.2");
    p.release("10.0.0.2");
    // .1 used again: .2 is now the least recently used.
    p.acquire("10.0.0.1");
    p.release("10.0.0.1");
    p.acquire("10.0.0.3");
    expect(p.size).toBe(2);
    expect(opened.filter((s) => s.closed).map((s) => s.ip)).toEqual(["10.0.0.2"]);
  });

  test("with every socket busy at the bound, a new address is refused (L7P_ERR_UPSTREAM_SOURCE), not given another's socket", () => {
    const { p, opened } = pool(2);
    p.acquire("10.0.0.1");
    p.acquire("10.0.0.2");
    let err: unknown;
    try {
      p.acquire("10.0.0.3");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(L7ProxyError);
    expect((err as L7ProxyError).code).toBe("L7P_ERR_UPSTREAM_SOURCE");
    expect(opened.some((s) => s.closed)).toBe(false);
    // Known addresses still get theirs; once one is idle, the new address takes its place.
    expect(p.acquire("10.0.0.1")).toBe(opened[0]);
    p.release("10.0.0.2");
    expect(p.acquire("10.0.0.3").ip).toBe("10.0.0.3");
    expect(opened[1]!.closed).toBe(true);
  });

  test("a socket that cannot be made throws and leaves nothing behind", () => {
    const { p } = pool(2, 1000, ["10.0.0.9"]);
    expect(() => p.acquire("10.0.0.9")).toThrow(/EADDRNOTAVAIL/);
    expect(p.size).toBe(0);
  });

  test("release is counted per query and never goes below zero; close closes everything", () => {
    const { p, opened, advance } = pool(4, 10);
    p.acquire("10.0.0.1");
    p.acquire("10.0.0.1");
    p.release("10.0.0.1");
    advance(100);
    expect(p.sweep()).toBe(0);
    p.release("10.0.0.1");
    p.release("10.0.0.1");
    p.release("10.0.0.7");
    advance(100);
    expect(p.sweep()).toBe(1);
    p.acquire("10.0.0.2");
    p.close();
    expect(opened.every((s) => s.closed)).toBe(true);
    expect(p.size).toBe(0);
  });

  test("tells its events (the metrics): opened, closed idle or evicted, failed open or exhausted, with the size after each", () => {
    const { p, events, advance } = pool(2, 1000, ["10.0.0.9"]);
    p.acquire("10.0.0.1");
    p.acquire("10.0.0.1");
    p.acquire("10.0.0.2");
    expect(() => p.acquire("10.0.0.3")).toThrow();
    p.release("10.0.0.2");
    p.acquire("10.0.0.3");
    expect(() => p.acquire("10.0.0.9")).toThrow(/have queries in flight/);
    p.release("10.0.0.1");
    p.release("10.0.0.1");
    p.release("10.0.0.3");
    advance(1000);
    p.sweep();
    expect(events).toEqual([
      "opened 1",
      "opened 2",
      "failed exhausted",
      "closed evicted 1",
      "opened 2",
      // At the bound with .1 and .3 busy: nothing to evict for .9, before open is even tried.
      "failed exhausted",
      "closed idle 1",
      "closed idle 0",
    ]);
  });

  test("an open that throws is told as failed open", () => {
    const { p, events } = pool(4, 1000, ["10.0.0.9"]);
    expect(() => p.acquire("10.0.0.9")).toThrow(/EADDRNOTAVAIL/);
    expect(events).toEqual(["failed open"]);
  });
});
