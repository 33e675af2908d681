import { describe, expect, it } from "vitest";
import { ExchangeQueue, type QueuedExchange } from "../../../src/datapath/exchange-queue.js";

interface Ex extends QueuedExchange {
  id: string;
}

function harness(max = 3) {
  const events: string[] = [];
  const q = new ExchangeQueue<Ex>(
    {
      writeLocal: (ex) => events.push(`write ${ex.id}`),
      finished: (ex) => events.push(`finished ${ex.id}`),
      pauseReads: () => events.push("pause"),
      resumeReads: () => events.push("resume"),
      closeAfter: (ex) => events.push(`close after ${ex.id}`),
      idle: () => events.push("idle"),
    },
    max,
  );
  const upstream = (id: string, closeAfter = false): Ex => ({ id, local: null, closeAfter });
  const local = (id: string, closeAfter = false): Ex => ({ id, local: Buffer.from(id), closeAfter });
  return { q, events, upstream, local };
}

describe("ExchangeQueue", () => {
  it("writes a local reply at once when nothing is ahead of it", () => {
    const { q, events, local } = harness();
    q.push(local("403"));
    expect(events).toEqual(["write 403", "finished 403", "idle"]);
    expect(q.length).toBe(0);
  });

  it("holds a local reply behind the upstream answers of earlier requests, in request order", () => {
    const { q, events, upstream, local } = harness(10);
    q.push(upstream("a"));
    q.push(local("denied-b"));
    q.push(upstream("c"));
    q.push(local("denied-d"));
    expect(events).toEqual([]);
    q.completeFront();
    expect(events).toEqual(["finished a", "write denied-b", "finished denied-b"]);
    q.completeFront();
    expect(events.slice(3)).toEqual(["finished c", "write denied-d", "finished denied-d", "idle"]);
  });

  it("pauses reads at the bound and resumes when an answer makes room", () => {
    const { q, events, upstream } = harness(2);
    q.push(upstream("a"));
    q.push(upstream("b"));
    expect(events).toEqual(["pause"]);
    expect(q.full).toBe(true);
    q.completeFront();
    expect(events).toEqual(["pause", "finished a", "resume"]);
  });

  it("stops at an exchange that closes the connection: nothing after it is answered", () => {
    const { q, events, upstream, local } = harness(10);
    q.push(upstream("a", true));
    q.push(local("never"));
    q.completeFront();
    expect(events).toEqual(["finished a", "close after a"]);
    expect(q.front()?.id).toBe("never");
  });

  it("reports every unanswered exchange once when the connection dies", () => {
    const { q, events, upstream } = harness(10);
    q.push(upstream("a"));
    q.push(upstream("b"));
    expect(q.abandon().map((e) => e.id)).toEqual(["a", "b"]);
    expect(events).toEqual(["finished a", "finished b"]);
    expect(q.length).toBe(0);
  });
});
