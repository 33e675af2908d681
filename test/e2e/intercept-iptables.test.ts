// The iptables fallback backend end to end, in network namespaces (see intercept-tproxy for
// the nftables backend). Same checks, plus what differs: TPROXY in mangle runs before DNAT,
// so a Service VIP is not redirected by its destination; it must then fail closed (reset),
// never bypass. (By its source it is: an egress-enforced client dialling a VIP is proxied.)

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InterceptSpec, installRules, rulesInstalled, uninstallRules, updateEnforcedIps } from "../../src/intercept/rules.js";
import { type PodHttpServer, TestTopology } from "../support/netns.js";
import { requireRootOrSkip } from "../support/root.js";
import { type ListenerStub, startTransparentListener } from "../support/netns-listener.js";
import { UdpEchoServer, pingAnswered, udpExchange } from "../support/udp-peers.js";

const PROXY_PORT = 15001;
const VIP = "10.96.0.10";

describe.runIf(requireRootOrSkip("intercept-iptables e2e"))("kernel interception (iptables)", () => {
  let topo: TestTopology;
  let server: PodHttpServer;
  let listener: ListenerStub | undefined;
  let spec: InterceptSpec;
  const scope = (): { netns: string } => ({ netns: topo.nodeNs });

  async function get(from: string, host: string): Promise<{ server: string; remoteAddress: string }> {
    const result = await topo.curl(from, `http://${host}:80/`);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { server: string; remoteAddress: string };
  }

  const iptablesState = async (): Promise<string> =>
    [
      await topo.run(topo.nodeNs, ["iptables-save"]),
      await topo.run(topo.nodeNs, ["ip6tables-save"]),
      await topo.run(topo.nodeNs, ["ip", "-4", "rule", "show"]),
      await topo.run(topo.nodeNs, ["ip", "-4", "route", "show", "table", String(spec.routeTable)]),
    ]
      .join("\n")
      // Only the rules matter, not the packet counters or the timestamps.
      .replace(/\[\d+:\d+\]/g, "")
      .replace(/^#.*$/gm, "");

  beforeAll(async () => {
    topo = await TestTopology.create({
      tag: `iip${process.pid % 100000}`,
      pods: [
        { name: "client", ip: "10.200.11.2" },
        { name: "server", ip: "10.200.12.2" },
        { name: "other", ip: "10.200.13.2" },
      ],
    });
    server = await topo.startHttpServer("server");
    await topo.startHttpServer("other");
    spec = {
      backend: "iptables",
      table: "l7proxy",
      proxyPort: PROXY_PORT,
      mark: 0x7e57,
      routeTable: 157,
      excludeMark: 0x7e58,
      ingressIps: [topo.pod("server").ip],
      egressIps: [],
    };
    await topo.run(topo.nodeNs, ["iptables", "-t", "nat", "-A", "PREROUTING", "-d", VIP, "-p", "tcp", "--dport", "80", "-j", "DNAT", "--to-destination", `${topo.pod("server").ip}:80`]);
    await installRules(spec, scope());
    listener = await startTransparentListener(topo, { port: PROXY_PORT, upstreamMark: 0x7e58 });
  });

  afterAll(async () => {
    await listener?.stop();
    await topo?.destroy();
  });

  test("a connection to an ingress-enforced endpoint reaches the proxy with its original destination", async () => {
    const answer = await get("client", topo.pod("server").ip);
    expect(answer).toMatchObject({ server: "server", remoteAddress: topo.nodeIp });
    expect(listener!.accepted()).toEqual([
      expect.objectContaining({ remoteAddress: topo.pod("client").ip, localAddress: topo.pod("server").ip, localPort: 80 }),
    ]);
  });

  test("traffic to an endpoint that is not enforced is not intercepted", async () => {
    expect((await get("client", topo.pod("other").ip)).remoteAddress).toBe(topo.pod("client").ip);
  });

  test("a Service VIP to an enforced endpoint fails closed (reset), never bypassing the proxy", async () => {
    const seen = server.connections().length;
    const result = await topo.curl("client", `http://${VIP}:80/`, [], 2);
    expect(result.code).toBe(7);
    expect(server.connections().length).toBe(seen);
  });

  test("non-TCP to an enforced endpoint is dropped (this backend allows none); other pods are untouched", async () => {
    const udpServer = await UdpEchoServer.start(topo.pod("server").ns, [5353]);
    const udpOther = await UdpEchoServer.start(topo.pod("other").ns, [5353]);
    try {
      expect(await udpExchange(topo.pod("client").ns, topo.pod("server").ip, 5353, "to-enforced", { timeoutMs: 1000 })).toBeNull();
      expect(await pingAnswered(topo.pod("client").ns, topo.pod("server").ip)).toBe(false);
      expect(await udpExchange(topo.pod("client").ns, topo.pod("other").ip, 5353, "to-other")).toBe("echo:to-other");
      expect(await pingAnswered(topo.pod("client").ns, topo.pod("other").ip)).toBe(true);
      // Replies to what an enforced endpoint sent pass (it is only ingress-enforced here).
      expect(await udpExchange(topo.pod("server").ns, topo.pod("other").ip, 5353, "from-enforced")).toBe("echo:from-enforced");
      expect(udpServer.got("to-enforced")).toBe(false);
    } finally {
      udpServer.stop();
      udpOther.stop();
    }
  });

  test("installing twice leaves one copy of everything", async () => {
    const once = await iptablesState();
    await installRules(spec, scope());
    await installRules(spec, scope());
    expect(await iptablesState()).toBe(once);
    expect(once.match(/-A PREROUTING -p tcp -j L7PROXY-PRE/g)).toHaveLength(2); // iptables and ip6tables
    expect(once.match(/-A INPUT ! -p tcp -j L7PROXY-DGM/g)).toHaveLength(2);
    expect(once.match(/-A PREROUTING -p udp -j L7PROXY-DNS/g)).toHaveLength(2);
    expect(await rulesInstalled(spec, scope())).toBe(true);
  });

  test("egress: connections from an egress-enforced endpoint are intercepted", async () => {
    await updateEnforcedIps({ ...spec, ingressIps: [], egressIps: [topo.pod("client").ip] }, scope());
    try {
      expect((await get("client", topo.pod("other").ip)).remoteAddress).toBe(topo.nodeIp);
      expect(listener!.accepted().at(-1)).toMatchObject({ localAddress: topo.pod("other").ip, localPort: 80 });
      // Through a Service VIP too: redirected by its source before DNAT, the proxy sees the
      // endpoint behind the VIP, and the handshake's later packets find the proxy's socket.
      expect((await get("client", VIP)).remoteAddress).toBe(topo.nodeIp);
      expect(listener!.accepted().at(-1)).toMatchObject({ localAddress: topo.pod("server").ip, localPort: 80 });
      // No longer ingress-enforced: the server is reached directly.
      expect((await get("other", topo.pod("server").ip)).remoteAddress).toBe(topo.pod("other").ip);
    } finally {
      await updateEnforcedIps(spec, scope());
    }
  });

  test("with no proxy listening, connections to an enforced endpoint never reach it", async () => {
    await listener?.stop();
    try {
      const seen = server.connections().length;
      const result = await topo.curl("client", `http://${topo.pod("server").ip}:80/`, [], 2);
      // TPROXY drops what no socket takes: the client times out (28).
      expect(result.code).toBe(28);
      expect(server.connections().length).toBe(seen);
    } finally {
      listener = await startTransparentListener(topo, { port: PROXY_PORT, upstreamMark: 0x7e58 });
    }
  });

  test("uninstall leaves none of l7proxy's chains, rules or routes", async () => {
    await uninstallRules(spec, scope());
    await uninstallRules(spec, scope());
    const state = await iptablesState();
    expect(state).not.toContain("L7PROXY");
    expect(state).not.toContain("fwmark");
    expect(await rulesInstalled(spec, scope())).toBe(false);
    expect((await get("client", topo.pod("server").ip)).remoteAddress).toBe(topo.pod("client").ip);
  });
});
