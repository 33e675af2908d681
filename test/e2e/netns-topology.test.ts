// The demo, benchmark and e2e tests all stand on this topology: check that pods reach each
// other and the node only through the node namespace.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runIn, isRoot } from "../../src/netns/exec.js";
import { createTopology, type Topology } from "../../src/netns/topology.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("netns topology");

describe.runIf(canRun)("netns topology", () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await createTopology({
      tag: `tp${process.pid % 100000}`,
      pods: [
        { name: "a", ip: "10.201.0.2", ip6: "fd00:201::2" },
        { name: "b", ip: "10.201.0.3", ip6: "fd00:201::3" },
      ],
    });
  });
  afterAll(async () => topo?.destroy());

  test("pods reach each other and the node address", async () => {
    const a = topo.pod("a").netns;
    expect((await runIn(a, "ping", ["-c1", "-W2", "10.201.0.3"], { allowFail: true })).code).toBe(0);
    expect((await runIn(a, "ping", ["-c1", "-W2", topo.nodeIp], { allowFail: true })).code).toBe(0);
  });

  test("pod traffic is routed by the node namespace (one hop)", async () => {
    const r = await runIn(topo.pod("a").netns, "ping", ["-c1", "-W2", "10.201.0.3"]);
    // A packet that crossed the node's forwarding path arrives with TTL decremented once.
    expect(r.stdout).toMatch(/ttl=63/);
  });

  test("IPv6 pod traffic is routed by the node namespace too (one hop)", async () => {
    const a = topo.pod("a").netns;
    const r = await runIn(a, "ping", ["-6", "-c1", "-W2", "fd00:201::3"], { allowFail: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ttl=63/);
    expect((await runIn(a, "ping", ["-6", "-c1", "-W2", topo.nodeIp6], { allowFail: true })).code).toBe(0);
  });

  test("destroy removes every namespace", async () => {
    const t2 = await createTopology({ tag: `tq${process.pid % 100000}`, pods: [{ name: "x", ip: "10.201.1.2" }] });
    await t2.destroy();
    const { run } = await import("../../src/netns/exec.js");
    const list = (await run("ip", ["netns", "list"])).stdout;
    expect(list).not.toContain(t2.nodeNetns);
    expect(list).not.toContain(t2.pod("x").netns);
  });
});

test("isRoot reports the effective user", () => {
  expect(isRoot()).toBe(process.getuid?.() === 0);
});
