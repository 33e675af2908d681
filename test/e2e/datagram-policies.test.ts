// L3/L4 policy for what the proxy never sees: UDP and ICMP to and from enforced pods, decided
// by nftables in the node namespace. Servers record every datagram they receive, so a test
// can assert that a denied datagram never reached its destination (not merely that no
// answer came back).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, NetnsCluster, sleep } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { UdpEchoServer, pingAnswered, udpExchange } from "../support/udp-peers.js";

const canRun = requireRootOrSkip("non-TCP (UDP, ICMP) policy e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");

const A = "client-a";
const B = "client-b";
const SERVER = "10.204.0.20";
const OPEN = "10.204.0.30";
const DNS = "10.204.0.53";

const serverIngress = (ports: string) => ({
  name: "udp-server-in.yaml",
  text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: udp-server-in, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: udp-server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [${ports}]}]
`,
});
const ALLOW_UDP_5353 = serverIngress(`{port: "5353", protocol: UDP}`);
const ALLOW_TCP_ONLY = serverIngress(`{port: "80", protocol: TCP}`);
const EGRESS_DNS = {
  name: "egress-dns.yaml",
  text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: egress-dns, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: egress-client}}
  egress:
  - toEndpoints: [{matchLabels: {app: dns}}]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
`,
};

describe.runIf(canRun)("UDP and ICMP policies enforced by the kernel", () => {
  const cluster = new NetnsCluster(`dg${process.pid % 100000}`, {
    endpointsFile: join(FIX, "datagram-endpoints.yaml"),
    adminPort: 9911,
    servers: [],
  });
  const servers: Record<string, UdpEchoServer> = {};
  const ns = (pod: string) => cluster.topo.pod(pod).netns;
  // Where no echo is expected, a short wait will do: the server's own record decides.
  const unanswered = (pod: string, host: string, port: number, payload: string, srcPort?: number) =>
    udpExchange(ns(pod), host, port, payload, { timeoutMs: 1000, ...(srcPort === undefined ? {} : { srcPort }) });

  /** Waits until the installed allow set for the server's ingress says `present`. */
  async function waitForServerAllowance(present: boolean): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const listed = await runIn(cluster.topo.nodeNetns, "nft", ["list", "set", "inet", "l7proxy", "in4_ep_allow"], { allowFail: true });
      if (listed.stdout.includes(`${SERVER} . udp . 5353`) === present) return;
      await sleep(50);
    }
    throw new Error(`the server's UDP allowance did not become ${present ? "present" : "absent"}:\n${cluster.proxyLog}`);
  }

  beforeAll(async () => {
    await cluster.start();
    servers.udp = await UdpEchoServer.start(ns("udp-server"), [5353, 5354]);
    servers.open = await UdpEchoServer.start(ns("open-server"), [53, 5353]);
    servers.dns = await UdpEchoServer.start(ns("dns"), [53, 5353]);
    await cluster.applyPolicies([ALLOW_UDP_5353, EGRESS_DNS]);
    await waitForServerAllowance(true);
  }, 90_000);
  afterAll(async () => {
    for (const s of Object.values(servers)) s.stop();
    await cluster.stop();
  }, 60_000);

  test("an allowed datagram is delivered and answered", async () => {
    expect(await udpExchange(ns(A), SERVER, 5353, "a1", { srcPort: 40000 })).toBe("echo:a1");
    expect(servers.udp!.received).toContainEqual({ port: 5353, from: "10.204.0.10", data: "a1" });
  });

  test("a datagram from a peer the policy does not name never reaches the server", async () => {
    expect(await unanswered(B, SERVER, 5353, "b1")).toBeNull();
    // Sent after b1 on the same path: once it has arrived, b1 would have too.
    expect(await udpExchange(ns(A), SERVER, 5353, "a2")).toBe("echo:a2");
    expect(servers.udp!.got("b1")).toBe(false);
  });

  test("a port the policy does not name is closed, even for the allowed peer", async () => {
    expect(await unanswered(A, SERVER, 5354, "a-5354")).toBeNull();
    expect(await udpExchange(ns(A), SERVER, 5353, "a3")).toBe("echo:a3");
    expect(servers.udp!.got("a-5354")).toBe(false);
  });

  test("ICMP to an enforced pod, or from an egress-enforced one, is dropped; other pods answer pings", async () => {
    expect(await pingAnswered(ns(A), SERVER)).toBe(false);
    expect(await pingAnswered(ns("egress-client"), OPEN)).toBe(false);
    expect(await pingAnswered(ns(A), OPEN)).toBe(true);
    expect(await pingAnswered(ns(B), DNS)).toBe(true);
  });

  test("egress: UDP 53 to the dns pod passes, UDP elsewhere is dropped at the source", async () => {
    expect(await udpExchange(ns("egress-client"), DNS, 53, "q1")).toBe("echo:q1");
    expect(await unanswered("egress-client", OPEN, 53, "q-open")).toBeNull();
    expect(await unanswered("egress-client", DNS, 5353, "q-5353")).toBeNull();
    expect(await udpExchange(ns("egress-client"), DNS, 53, "q2")).toBe("echo:q2");
    expect(servers.open!.got("q-open")).toBe(false);
    expect(servers.dns!.got("q-5353")).toBe(false);
  });

  test("traffic between pods that no policy selects is untouched", async () => {
    expect(await udpExchange(ns(B), OPEN, 5353, "b-open")).toBe("echo:b-open");
  });

  test("removing the allowance stops the next datagram, even on a flow conntrack still tracks", async () => {
    expect(await udpExchange(ns(A), SERVER, 5353, "a-before-removal", { srcPort: 40000 })).toBe("echo:a-before-removal");
    await cluster.applyPolicies([ALLOW_TCP_ONLY, EGRESS_DNS]);
    await waitForServerAllowance(false);
    // The answered flow is still tracked: a rule accepting "established" would let it through.
    const tracked = await runIn(cluster.topo.nodeNetns, "cat", ["/proc/net/nf_conntrack"]);
    expect(tracked.stdout).toMatch(/udp .*src=10\.204\.0\.10 dst=10\.204\.0\.20 sport=40000 dport=5353 .*src=10\.204\.0\.20 dst=10\.204\.0\.10 sport=5353 dport=40000/);
    expect(await unanswered(A, SERVER, 5353, "a-after-removal", 40000)).toBeNull();
    await cluster.applyPolicies([ALLOW_UDP_5353, EGRESS_DNS]);
    await waitForServerAllowance(true);
    expect(await udpExchange(ns(A), SERVER, 5353, "a-restored", { srcPort: 40000 })).toBe("echo:a-restored");
    expect(servers.udp!.got("a-after-removal")).toBe(false);
  });

  test("with the proxy stopped the rules still drop; uninstalling leaves nothing behind", async () => {
    expect(await cluster.stopProxy()).toBe(0);
    expect(await unanswered(B, SERVER, 5353, "b-stopped")).toBeNull();
    const node = cluster.topo.nodeNetns;
    await runIn(node, process.execPath, [CLI, "rules", "uninstall"]);
    expect((await runIn(node, "nft", ["list", "ruleset"])).stdout).not.toMatch(/l7proxy|datagrams|endpoint4/);
    expect((await runIn(node, "ip", ["rule", "list"])).stdout).not.toMatch(/fwmark/);
    // Nothing enforced any more: every datagram and ping goes through.
    expect(await udpExchange(ns(B), SERVER, 5353, "b-uninstalled")).toBe("echo:b-uninstalled");
    expect(servers.udp!.got("b-stopped")).toBe(false);
    expect(await pingAnswered(ns(A), SERVER)).toBe(true);
    expect(await pingAnswered(ns("egress-client"), OPEN)).toBe(true);
  });
});
