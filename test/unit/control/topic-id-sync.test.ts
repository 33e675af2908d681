// Kafka topic IDs across --workers processes: the primary's fanout and the workers' replicas
// wired back to back in memory, messages structured-cloned and delivered asynchronously as
// over the (ordered) IPC channel.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { TopicIdFanout, TopicIdReplica, type TopicIdPeer, type TopicIdSyncMessage } from "../../../src/control/topic-id-sync.js";

const logger = pino({ level: "silent" });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const ID = "a7".repeat(16);
const X = "identity kafka";

interface Worker {
  replica: TopicIdReplica;
  peer: TopicIdPeer;
  /** Delivers the primary's messages (false: the worker never reads them). */
  live: boolean;
  sent: TopicIdSyncMessage[];
}

function setup(holdMs = 1000) {
  const fanout = new TopicIdFanout({ logger, holdMs });
  const add = (): Worker => {
    const w = { live: true, sent: [] } as unknown as Worker;
    w.peer = {
      label: "w",
      send: (m) => {
        const copy = structuredClone(m);
        if (w.live) setImmediate(() => w.replica.onMessage(copy));
      },
    };
    w.replica = new TopicIdReplica({
      holdMs,
      send: (m) => {
        w.sent.push(m);
        const copy = structuredClone(m);
        setImmediate(() => fanout.onMessage(w.peer, copy));
        return true;
      },
    });
    return w;
  };
  return { fanout, add };
}

/** What a worker's Kafka session does with a Metadata answer: learn, then share and wait. */
function learn(w: Worker, scope: string, id: string, name: string): Promise<void> | null {
  const e = w.replica.table.learn(scope, id, name);
  return e === null ? null : w.replica.share([e]);
}

describe("topic IDs across workers", () => {
  it("what one worker learns is in the other before its answer is released", async () => {
    const { add } = setup();
    const a = add();
    const b = add();
    expect(await a.replica.sync(1000)).toBe(true);
    expect(await b.replica.sync(1000)).toBe(true);
    let released = false;
    const wait = learn(a, X, ID, "empire-announce")!;
    void wait.then(() => (released = true));
    expect(b.replica.table.resolve(X, ID).known).toBe(false);
    await wait;
    expect(released).toBe(true);
    // The scope travels with the ID: another destination's requests still do not know it.
    expect(b.replica.table.resolve(X, ID)).toEqual({ name: "empire-announce", known: true });
    expect(b.replica.table.resolve("identity rogue", ID).known).toBe(false);
  });

  it("conflicts travel as conflicts; a worker that starts later gets everything, conflicts included", async () => {
    const { add } = setup();
    const a = add();
    const b = add();
    await a.replica.sync(1000);
    await b.replica.sync(1000);
    await learn(a, X, ID, "empire-announce");
    await learn(b, X, "d1".repeat(16), "deathstar-plans");
    // A second, lying answer reaches worker b: now distrusted in both.
    await learn(b, X, ID, "deathstar-plans");
    expect(a.replica.table.resolve(X, ID).known).toBe(false);
    const c = add();
    expect(await c.replica.sync(1000)).toBe(true);
    expect(c.replica.table.resolve(X, ID).known).toBe(false);
    expect(c.replica.table.resolve(X, "d1".repeat(16))).toEqual({ name: "deathstar-plans", known: true });
    // Learning the distrusted ID again teaches nothing: nothing to share, nothing to wait for.
    expect(learn(c, X, ID, "empire-announce")).toBeNull();
  });

  it("a worker that does not ack holds an answer no longer than the bound; one that exits not at all", async () => {
    const { fanout, add } = setup(30);
    const a = add();
    const b = add();
    await a.replica.sync(1000);
    await b.replica.sync(1000);
    b.live = false;
    // Released by the bound, not by b (counted).
    await learn(a, X, ID, "empire-announce");
    expect(fanout.ackTimeouts).toBe(1);
    const pending = learn(a, X, "d1".repeat(16), "deathstar-plans")!;
    await tick();
    await tick();
    fanout.remove(b.peer);
    await pending;
    expect(fanout.ackTimeouts).toBe(1);
  });

  it("alone, a worker's answer waits only for the primary's reply", async () => {
    const { fanout, add } = setup();
    const a = add();
    await a.replica.sync(1000);
    await learn(a, X, ID, "empire-announce");
    expect(fanout.table.resolve(X, ID).known).toBe(true);
    expect(a.sent.map((m) => m.type)).toEqual(["kafka-ids-sync?", "kafka-ids-learn"]);
  });

  it("ignores entries that are not shaped as entries", async () => {
    const { fanout } = setup();
    const peer: TopicIdPeer = { label: "w", send: () => {} };
    expect(fanout.onMessage(peer, { type: "kafka-ids-learn", id: 1, entries: [null, 7, { scope: X }, { scope: X, id: ID, name: 5 }, { scope: X, id: ID, name: "ok" }] })).toBe(true);
    expect(fanout.table.entries()).toEqual([{ scope: X, id: ID, name: "ok" }]);
    expect(fanout.onMessage(peer, { type: "fqdn-ack", seq: 1 })).toBe(false);
  });
});
