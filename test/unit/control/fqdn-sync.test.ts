// The learned names across --workers processes: the primary's fanout and the workers'
// replicas wired back to back in memory (the IPC channel is ordered, as this is).
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { LearnedName } from "../../../src/datapath/dns/fqdn-cache.js";
import { FqdnLearner } from "../../../src/control/fqdn-learning.js";
import { FqdnReplica } from "../../../src/control/fqdn-replica.js";
import { FqdnFanout, type FqdnPeer, type FqdnSyncMessage } from "../../../src/control/fqdn-sync.js";
import type { PolicySnapshot } from "../../../src/policy/decision.js";

const logger = pino({ level: "silent" });
const tcpOnly = { hasDatagramFqdnPeers: () => false } as unknown as PolicySnapshot;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Worker {
  replica: FqdnReplica;
  peer: FqdnPeer;
  /** Messages to the primary; delivered by deliver(). */
  outbox: FqdnSyncMessage[];
  /** Messages from the primary not yet delivered (a worker that is slow to read). */
  inbox: FqdnSyncMessage[];
  /** Delivers the primary's messages at once (true) or queues them (false). */
  live: boolean;
}

function setup(holdMs = 1000) {
  const fanout = new FqdnFanout({ ackTimeoutMs: holdMs, logger });
  const learner = new FqdnLearner({
    minTtlSeconds: 0,
    maxIpsPerName: 2,
    holdMs,
    snapshot: () => tcpOnly,
    state: null,
    applyDatagramRules: null,
    publish: (names: LearnedName[]) => fanout.publish(names),
    logger,
  });
  const workers: Worker[] = [];
  const deliverFromPrimary = (w: Worker): void => {
    while (w.inbox.length > 0) w.replica.onMessage(w.inbox.shift());
  };
  const addWorker = (): Worker => {
    const w = {} as Worker;
    w.outbox = [];
    w.inbox = [];
    w.live = true;
    w.peer = {
      label: `worker ${workers.length}`,
      send: (m) => {
        w.inbox.push(structuredClone(m));
        if (w.live) deliverFromPrimary(w);
      },
    };
    w.replica = new FqdnReplica({
      minTtlSeconds: 0,
      maxIpsPerName: 2,
      holdMs,
      logger,
      send: (m) => {
        // To the primary, asynchronously, as over IPC.
        const copy = structuredClone(m);
        setImmediate(() => fanout.onMessage(w.peer, copy, learner));
        return true;
      },
    });
    workers.push(w);
    return w;
  };
  const close = (): void => {
    learner.close();
    for (const w of workers) w.replica.close();
  };
  return { fanout, learner, addWorker, deliverFromPrimary, close };
}

describe("learned names with --workers", () => {
  it("an answer is released only once every worker has the new address", async () => {
    const s = setup();
    const a = s.addWorker();
    const b = s.addWorker();
    await Promise.all([a.replica.sync(1000), b.replica.sync(1000)]);
    b.live = false;
    const ready = s.learner.learn("api.example.com.", ["192.0.2.1"], 300);
    expect(ready).not.toBeNull();
    let released = false;
    void ready!.then(() => (released = true));
    for (let i = 0; i < 5; i++) await tick();
    expect(a.replica.namesOf("192.0.2.1")).toEqual(["api.example.com."]);
    // Worker b has not read the update: the answer waits.
    expect(b.replica.namesOf("192.0.2.1")).toEqual([]);
    expect(released).toBe(false);
    s.deliverFromPrimary(b);
    await ready;
    expect(b.replica.namesOf("192.0.2.1")).toEqual(["api.example.com."]);
    expect(s.fanout.ackTimeouts).toBe(0);
    s.close();
  });

  it("a worker that does not ack holds the answer no longer than the bound (counted)", async () => {
    const s = setup(30);
    const a = s.addWorker();
    await a.replica.sync(1000);
    a.live = false;
    const started = Date.now();
    await s.learner.learn("api.example.com.", ["192.0.2.1"], 300);
    expect(Date.now() - started).toBeLessThan(500);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.fanout.ackTimeouts).toBe(1);
    expect(s.learner.holdTimeouts).toBe(1);
    s.close();
  });

  it("a worker that exits is not waited for", async () => {
    const s = setup(10_000);
    const a = s.addWorker();
    await a.replica.sync(1000);
    a.live = false;
    const ready = s.learner.learn("api.example.com.", ["192.0.2.1"], 300)!;
    await tick();
    await tick();
    s.fanout.remove(a.peer);
    await ready;
    expect(s.fanout.peers).toBe(0);
    s.close();
  });

  it("a (re)started worker gets every name learned before it asked, and updates after", async () => {
    const s = setup();
    s.learner.learn("old.example.com.", ["192.0.2.7"], 300);
    await tick();
    const late = s.addWorker();
    expect(late.replica.namesOf("192.0.2.7")).toEqual([]);
    expect(await late.replica.sync(1000)).toBe(true);
    expect(late.replica.namesOf("192.0.2.7")).toEqual(["old.example.com."]);
    await s.learner.learn("new.example.com.", ["192.0.2.8"], 300);
    expect(late.replica.namesOf("192.0.2.8")).toEqual(["new.example.com."]);
    s.close();
  });

  it("a worker that has not synced yet is not waited for (its state will include the update)", async () => {
    const s = setup(10_000);
    s.addWorker();
    let released = false;
    void s.learner.learn("api.example.com.", ["192.0.2.1"], 300)?.then(() => (released = true));
    // No worker asked for the state: released with the turn of the event loop that sends updates.
    await tick();
    await tick();
    expect(released).toBe(true);
    expect(s.fanout.ackTimeouts).toBe(0);
    s.close();
  });

  it("an answer over TCP DNS in one worker reaches the primary and every other worker before it is released", async () => {
    const s = setup();
    const a = s.addWorker();
    const b = s.addWorker();
    await Promise.all([a.replica.sync(1000), b.replica.sync(1000)]);
    const ready = a.replica.learn("tcp.example.com.", ["192.0.2.30"], 300);
    expect(ready).not.toBeNull();
    // Allowed in the worker that got the answer at once.
    expect(a.replica.namesOf("192.0.2.30")).toEqual(["tcp.example.com."]);
    await ready;
    expect(b.replica.namesOf("192.0.2.30")).toEqual(["tcp.example.com."]);
    expect(s.learner.namesOf("192.0.2.30")).toEqual(["tcp.example.com."]);
    // The same answer again: nothing new, no wait (the primary still hears of it).
    expect(a.replica.learn("tcp.example.com.", ["192.0.2.30"], 300)).toBeNull();
    s.close();
  });

  it("workers follow the primary's expiries and evictions (a copy, not a second cache)", async () => {
    const s = setup();
    const a = s.addWorker();
    await a.replica.sync(1000);
    await s.learner.learn("n.example.com.", ["192.0.2.1"], 10);
    const before = a.replica.list()[0]!.ips[0]!.expiresAtMs;
    // A later answer with a longer TTL extends the expiry: the copy hears of it too.
    expect(s.learner.learn("n.example.com.", ["192.0.2.1"], 300)).toBeNull();
    for (let i = 0; i < 5; i++) await tick();
    expect(a.replica.list()[0]!.ips[0]!.expiresAtMs).toBeGreaterThan(before + 200_000);
    // maxIpsPerName 2: the least recently answered IP goes, in the copy too.
    await s.learner.learn("n.example.com.", ["192.0.2.2"], 300);
    await s.learner.learn("n.example.com.", ["192.0.2.3"], 300);
    expect(a.replica.list()).toEqual(s.learner.list());
    expect(a.replica.namesOf("192.0.2.1")).toEqual([]);
    s.close();
  });

  it("a starting worker whose primary does not answer listens anyway after the timeout", async () => {
    const r = new FqdnReplica({ minTtlSeconds: 0, maxIpsPerName: 10, holdMs: 10, logger, send: () => true });
    expect(await r.sync(20)).toBe(false);
    // No primary to confirm a TCP DNS answer: released after the hold time.
    await r.learn("x.example.com.", ["192.0.2.1"], 30);
    r.close();
  });

  it("ignores messages of other protocols", () => {
    const s = setup();
    const a = s.addWorker();
    expect(s.fanout.onMessage(a.peer, { type: "listening" }, s.learner)).toBe(false);
    expect(a.replica.onMessage({ type: "metrics?", id: 1 })).toBe(false);
    expect(a.replica.onMessage(null)).toBe(false);
    s.close();
  });
});
