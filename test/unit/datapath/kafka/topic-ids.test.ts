// The topic-ID table, scoped by destination identity: what one scope learns is unknown in
// every other (the attack: a destination that is not the real cluster teaches the real
// cluster's ID another name), conflicts within a scope distrust the ID, and both the number
// of entries and the number of scopes stay bounded.
import { describe, expect, it } from "vitest";
import { TopicIdTable, topicIdScope, unknownTopicId } from "../../../../src/datapath/kafka/topic-ids.js";
import type { Peer } from "../../../../src/policy/decision.js";

const PLANS = "d1".repeat(16);
const ANNOUNCE = "a7".repeat(16);
const X = "identity cluster-x";
const Y = "identity rogue-y";

describe("TopicIdTable", () => {
  it("the attack: an ID identity Y taught stays unknown for requests to identity X", () => {
    const t = new TopicIdTable(100, 10);
    // The rogue destination lends the real cluster's deathstar-plans ID the name empire-announce.
    expect(t.learn(Y, PLANS, "empire-announce")).not.toBeNull();
    expect(t.resolve(Y, PLANS)).toEqual({ name: "empire-announce", known: true });
    expect(t.resolve(X, PLANS)).toEqual({ name: unknownTopicId(PLANS), known: false });
    expect(t.unknownLookups).toBe(1);
    // X's own Metadata teaches the true name, for X only; Y keeps its own (it is only ever used for Y).
    expect(t.learn(X, PLANS, "deathstar-plans")).not.toBeNull();
    expect(t.resolve(X, PLANS)).toEqual({ name: "deathstar-plans", known: true });
    expect(t.resolve(Y, PLANS)).toEqual({ name: "empire-announce", known: true });
  });

  it("conflicting answers within a scope distrust the ID there, and only there", () => {
    const t = new TopicIdTable(100, 10);
    t.learn(X, ANNOUNCE, "empire-announce");
    t.learn(Y, ANNOUNCE, "empire-announce");
    expect(t.learn(X, ANNOUNCE, "empire-announce")).toBeNull();
    expect(t.learn(X, ANNOUNCE, "deathstar-plans")).toEqual({ scope: X, id: ANNOUNCE, name: null });
    expect(t.resolve(X, ANNOUNCE).known).toBe(false);
    // Never trusted again, whatever is answered next.
    expect(t.learn(X, ANNOUNCE, "empire-announce")).toBeNull();
    expect(t.learn(X, ANNOUNCE, "deathstar-plans")).toBeNull();
    expect(t.resolve(X, ANNOUNCE).known).toBe(false);
    expect(t.resolve(Y, ANNOUNCE)).toEqual({ name: "empire-announce", known: true });
    expect(t.entries()).toContainEqual({ scope: X, id: ANNOUNCE, name: null });
  });

  it("ignores the null ID, empty names, and keys it could not keep apart", () => {
    const t = new TopicIdTable(100, 10);
    expect(t.learn(X, "0".repeat(32), "t")).toBeNull();
    expect(t.learn(X, ANNOUNCE, "")).toBeNull();
    expect(t.learn("", ANNOUNCE, "t")).toBeNull();
    expect(t.learn("a\nb", ANNOUNCE, "t")).toBeNull();
    expect(t.learn(X, "abc", "t")).toBeNull();
    expect(t.size).toBe(0);
  });

  it("bounds the entries across scopes: the least recently taught goes first", () => {
    const t = new TopicIdTable(3, 10);
    const id = (n: number) => n.toString(16).padStart(32, "0");
    t.learn(X, id(1), "one");
    t.learn(Y, id(2), "two");
    t.learn(X, id(3), "three");
    // Taught again: now the newest.
    t.learn(X, id(1), "one");
    t.learn(Y, id(4), "four");
    expect(t.size).toBe(3);
    expect(t.resolve(Y, id(2)).known).toBe(false);
    expect([t.resolve(X, id(1)).known, t.resolve(X, id(3)).known, t.resolve(Y, id(4)).known]).toEqual([true, true, true]);
    t.learn(Y, id(5), "five");
    t.learn(Y, id(6), "six");
    // X lost its last entries, and with them the scope.
    expect(t.size).toBe(3);
    expect(t.scopeCount).toBe(1);
    expect(t.entries().map((e) => e.id)).toEqual([id(4), id(5), id(6)]);
  });

  it("bounds the scopes: the least recently taught goes, with its IDs", () => {
    const t = new TopicIdTable(100, 2);
    t.learn("identity a", ANNOUNCE, "announce");
    t.learn("identity b", ANNOUNCE, "announce");
    t.learn("identity a", PLANS, "plans");
    t.learn("identity c", ANNOUNCE, "announce");
    expect(t.scopeCount).toBe(2);
    expect(t.resolve("identity b", ANNOUNCE).known).toBe(false);
    expect(t.resolve("identity a", PLANS).known).toBe(true);
    expect(t.size).toBe(3);
  });

  it("applies what another process learned, conflicts included", () => {
    const a = new TopicIdTable(100, 10);
    a.learn(X, ANNOUNCE, "empire-announce");
    a.learn(X, PLANS, "deathstar-plans");
    a.learn(X, PLANS, "empire-announce");
    const b = new TopicIdTable(100, 10);
    b.learn(X, PLANS, "empire-announce");
    for (const e of a.entries()) b.apply(e);
    expect(b.resolve(X, ANNOUNCE).known).toBe(true);
    expect(b.resolve(X, PLANS).known).toBe(false);
    expect(b.apply({ scope: X, id: PLANS, name: null })).toBe(false);
  });
});

describe("topicIdScope", () => {
  const broker = (name: string, identity?: string): Peer => ({
    ip: "10.0.0.1",
    endpoint: { namespace: "empire", name, workload: "kafka", labels: { app: "kafka", "statefulset.kubernetes.io/pod-name": name }, ...(identity === undefined ? {} : { identity }) },
  });
  it("is the destination's identity for endpoints, its address otherwise", () => {
    expect(topicIdScope(broker("kafka-0", "K"))).toBe(topicIdScope(broker("kafka-1", "K")));
    expect(topicIdScope(broker("kafka-0", "K"))).not.toBe(topicIdScope(broker("kafka-0", "R")));
    expect(topicIdScope({ ip: "192.0.2.1", reserved: "world" })).not.toBe(topicIdScope({ ip: "192.0.2.2", reserved: "world" }));
    // Without the snapshot's identity every label counts (finer, never coarser).
    expect(topicIdScope(broker("kafka-0"))).not.toBe(topicIdScope(broker("kafka-1")));
  });
});
