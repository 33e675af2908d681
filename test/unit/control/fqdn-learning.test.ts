import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { FqdnLearner, holdMetrics } from "../../../src/control/fqdn-learning.js";
import { FqdnReplica } from "../../../src/control/fqdn-replica.js";
import type { FqdnSyncMessage } from "../../../src/control/fqdn-sync.js";
import { FqdnStateDir } from "../../../src/control/fqdn-state.js";
import type { PolicySnapshot } from "../../../src/policy/decision.js";

const logger = pino({ level: "silent" });
const withDatagramFqdn = { hasDatagramFqdnPeers: () => true } as unknown as PolicySnapshot;
const tcpOnly = { hasDatagramFqdnPeers: () => false } as unknown as PolicySnapshot;

function learner(snapshot: PolicySnapshot, apply: (() => Promise<void>) | null, holdMs = 10_000, state: FqdnStateDir | null = null): FqdnLearner {
  return new FqdnLearner({ minTtlSeconds: 0, maxIpsPerName: 10, holdMs, snapshot: () => snapshot, state, applyDatagramRules: apply, logger });
}

describe("learning from DNS answers", () => {
  it("TCP-only toFQDNs: nothing to wait for, the cache already answers", () => {
    const l = learner(tcpOnly, async () => {});
    expect(l.learn("a.example.com.", ["192.0.2.1"], 30)).toBeNull();
    expect(l.namesOf("192.0.2.1")).toEqual(["a.example.com."]);
    l.close();
  });

  it("UDP/SCTP toFQDNs: the answer waits until the kernel's sets are refilled", async () => {
    let release!: () => void;
    let applied = 0;
    const l = learner(withDatagramFqdn, () => {
      applied++;
      return new Promise<void>((r) => (release = r));
    });
    const ready = l.learn("a.example.com.", ["192.0.2.1"], 30);
    expect(ready).not.toBeNull();
    let done = false;
    void ready!.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    release();
    await ready;
    expect(done).toBe(true);
    expect(applied).toBe(1);
    // The same live IP again: no update, no wait.
    expect(l.learn("a.example.com.", ["192.0.2.1"], 30)).toBeNull();
    l.close();
  });

  it("never holds an answer longer than the hold time", async () => {
    const l = learner(withDatagramFqdn, () => new Promise<void>(() => {}), 20);
    await l.learn("a.example.com.", ["192.0.2.1"], 30);
    expect(l.holdTimeouts).toBe(1);
    l.close();
  });

  it("answers arriving during an update share the next one", async () => {
    const releases: (() => void)[] = [];
    const l = learner(withDatagramFqdn, () => new Promise<void>((r) => releases.push(r)));
    const first = l.learn("a.", ["10.0.0.1"], 30)!;
    const second = l.learn("b.", ["10.0.0.2"], 30)!;
    const third = l.learn("c.", ["10.0.0.3"], 30)!;
    expect(releases).toHaveLength(1);
    releases[0]!();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    // One more update covers both answers that came in while the first ran.
    expect(releases).toHaveLength(2);
    releases[1]!();
    await Promise.all([second, third]);
    l.close();
  });

  it("a new process reads what the previous one learned (state dir)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fqdn-state-"));
    try {
      const old = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 111111));
      await old.learn("late.example.com.", ["192.0.2.9"], 300);
      old.close();
      const next = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 222222));
      expect(next.namesOf("192.0.2.9")).toEqual([]);
      next.restore();
      expect(next.namesOf("192.0.2.9")).toEqual(["late.example.com."]);
      next.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("learned names survive two restarts with no DNS answer in between", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fqdn-state-"));
    try {
      const first = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 111111));
      await first.learn("late.example.com.", ["192.0.2.9"], 300);
      first.close();
      // The second process restores and takes the names over: pid 111111 has exited, so its
      // file is gone once read.
      const second = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 222222));
      second.restore();
      second.close();
      const third = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 333333));
      third.restore();
      expect(third.namesOf("192.0.2.9")).toEqual(["late.example.com."]);
      third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a new process with the pid of the one before it reads that one's names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fqdn-state-"));
    try {
      const old = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 111111));
      await old.learn("late.example.com.", ["192.0.2.9"], 300);
      old.close();
      const next = learner(tcpOnly, null, 100, new FqdnStateDir(dir, 111111));
      next.restore();
      expect(next.namesOf("192.0.2.9")).toEqual(["late.example.com."]);
      next.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("answer-hold metrics", () => {
  function recorder() {
    const released: { heldMs: number; timedOut: boolean }[] = [];
    return { released, holds: { released: (heldMs: number, timedOut: boolean) => released.push({ heldMs, timedOut }) } };
  }

  it("an answer held until the sets are refilled is told with the time it waited; one bringing nothing new is not", async () => {
    let clock = 0;
    let release!: () => void;
    const r = recorder();
    const l = new FqdnLearner({
      minTtlSeconds: 0,
      maxIpsPerName: 10,
      holdMs: 10_000,
      snapshot: () => withDatagramFqdn,
      state: null,
      applyDatagramRules: () => new Promise<void>((res) => (release = res)),
      holds: r.holds,
      logger,
      clock: () => clock,
    });
    const held = l.learn("a.example.com.", ["192.0.2.1"], 30)!;
    await new Promise((res) => setTimeout(res, 0));
    clock = 7;
    release();
    await held;
    expect(r.released).toEqual([{ heldMs: 7, timedOut: false }]);
    expect(l.learn("a.example.com.", ["192.0.2.1"], 30)).toBeNull();
    expect(r.released).toHaveLength(1);
    l.close();
  });

  it("an answer released by the hold time is told as timed out", async () => {
    const r = recorder();
    const l = new FqdnLearner({
      minTtlSeconds: 0,
      maxIpsPerName: 10,
      holdMs: 20,
      snapshot: () => withDatagramFqdn,
      state: null,
      applyDatagramRules: () => new Promise<void>(() => {}),
      holds: r.holds,
      logger,
    });
    await l.learn("a.example.com.", ["192.0.2.1"], 30);
    expect(r.released).toHaveLength(1);
    expect(r.released[0]!.timedOut).toBe(true);
    expect(r.released[0]!.heldMs).toBeGreaterThanOrEqual(19);
    l.close();
  });

  it("an answer released by the hold time is told once, even when the sets are refilled after", async () => {
    let release!: () => void;
    const r = recorder();
    const l = new FqdnLearner({
      minTtlSeconds: 0,
      maxIpsPerName: 10,
      holdMs: 20,
      snapshot: () => withDatagramFqdn,
      state: null,
      applyDatagramRules: () => new Promise<void>((res) => (release = res)),
      holds: r.holds,
      logger,
    });
    await l.learn("a.example.com.", ["192.0.2.1"], 30);
    release();
    await new Promise((res) => setTimeout(res, 10));
    expect(r.released.map((x) => x.timedOut)).toEqual([true]);
    l.close();
  });

  it("a worker's held answers (DNS over TCP) are told too: confirmed by the primary, or timed out", async () => {
    const sent: FqdnSyncMessage[] = [];
    const r = recorder();
    let clock = 100;
    const replica = new FqdnReplica({ minTtlSeconds: 0, maxIpsPerName: 10, holdMs: 20, send: (m) => sent.push(m) > 0, logger, holds: r.holds, clock: () => clock });
    const confirmed = replica.learn("a.example.com.", ["192.0.2.1"], 30)!;
    const learnMsg = sent.find((m) => m.type === "fqdn-learn") as Extract<FqdnSyncMessage, { type: "fqdn-learn" }>;
    clock = 103;
    replica.onMessage({ type: "fqdn-learned", id: learnMsg.id });
    await confirmed;
    await replica.learn("b.example.com.", ["192.0.2.2"], 30);
    expect(r.released).toEqual([
      { heldMs: 3, timedOut: false },
      { heldMs: 0, timedOut: true },
    ]);
    replica.close();
  });

  it("holdMetrics observes seconds and counts timeouts", () => {
    const seconds: number[] = [];
    let timeouts = 0;
    const h = holdMetrics({ seconds: { observe: (v) => seconds.push(v) }, timeouts: { inc: () => timeouts++ } });
    h.released(250, false);
    h.released(100, true);
    expect(seconds).toEqual([0.25, 0.1]);
    expect(timeouts).toBe(1);
  });
});
