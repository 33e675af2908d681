// Kernel interception end to end, in network namespaces: a client pod, two server pods and a
// node namespace holding the rules and a minimal transparent proxy
// (test/support/netns-transparent-listener.mjs: the native addon plus net.Server).
// What a user of the rules would check: which connections reach the proxy, what the proxy
// learns about them (client address, original destination), that answers still arrive, and
// that nothing gets through to an enforced endpoint while no proxy listens.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InterceptSpec, installRules, rulesInstalled, uninstallRules, updateEnforcedIps } from "../../src/intercept/rules.js";
import { type PodHttpServer, TestTopology } from "../support/netns.js";
import { requireRootOrSkip } from "../support/root.js";
import { type AcceptedEvent, type ListenerStub, startTransparentListener } from "../support/netns-listener.js";

const PROXY_PORT = 15001;
const VIP = "10.96.0.10";

describe.runIf(requireRootOrSkip("intercept-tproxy e2e"))("kernel interception (nftables)", () => {
  let topo: TestTopology;
  let server: PodHttpServer;
  let listener: ListenerStub | undefined;
  let spec: InterceptSpec;
  const scope = (): { netns: string } => ({ netns: topo.nodeNs });

  async function startListener(options: { preserveSource?: boolean } = {}): Promise<void> {
    listener = await startTransparentListener(topo, { port: PROXY_PORT, upstreamMark: spec.excludeMark!, ...options });
  }

  async function stopListener(): Promise<void> {
    await listener?.stop();
    listener = undefined;
  }

  const accepted = (): AcceptedEvent[] => listener?.accepted() ?? [];

  async function get(from: string, host: string): Promise<{ server: string; remoteAddress: string }> {
    const result = await topo.curl(from, `http://${host}:80/hello?x=1`);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { server: string; remoteAddress: string };
  }

  beforeAll(async () => {
    topo = await TestTopology.create({
      tag: `itp${process.pid % 100000}`,
      pods: [
        { name: "client", ip: "10.200.1.2" },
        { name: "server", ip: "10.200.2.2" },
        { name: "other", ip: "10.200.3.2" },
      ],
    });
    server = await topo.startHttpServer("server");
    await topo.startHttpServer("other");
    spec = {
      backend: "nft",
      table: "l7proxy",
      proxyPort: PROXY_PORT,
      mark: 0x7e57,
      routeTable: 157,
      excludeMark: 0x7e58,
      ingressIps: [topo.pod("server").ip],
      egressIps: [],
    };
    // kube-proxy's stand-in: a ClusterIP on this node DNATed to the server pod.
    await topo.run(topo.nodeNs, ["nft", "-f", "-"], {
      input: [
        "table ip fakekubeproxy {",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        `    ip daddr ${VIP} tcp dport 80 dnat to ${topo.pod("server").ip}:80`,
        "  }",
        "}",
      ].join("\n"),
    });
  });

  afterAll(async () => {
    await stopListener();
    await topo?.destroy();
  });

  test("without rules, the client reaches the server directly", async () => {
    const answer = await get("client", topo.pod("server").ip);
    expect(answer.server).toBe("server");
    expect(answer.remoteAddress).toBe(topo.pod("client").ip);
  });

  test("a connection to an ingress-enforced endpoint reaches the proxy with its original destination", async () => {
    await installRules(spec, scope());
    await startListener();
    const answer = await get("client", topo.pod("server").ip);
    // The real server answered, through the proxy: it saw the node's address, not the client's.
    expect(answer.server).toBe("server");
    expect(answer.remoteAddress).toBe(topo.nodeIp);
    expect(accepted()).toEqual([
      expect.objectContaining({ remoteAddress: topo.pod("client").ip, localAddress: topo.pod("server").ip, localPort: 80 }),
    ]);
    const upstream = await listener!.waitForUpstream();
    expect(upstream).toMatchObject({ remoteAddress: topo.pod("server").ip, mark: spec.excludeMark });
  });

  test("a Service VIP that the node DNATs to an enforced endpoint is intercepted with the pod IP as destination", async () => {
    const before = accepted().length;
    const answer = await get("client", VIP);
    expect(answer.server).toBe("server");
    expect(answer.remoteAddress).toBe(topo.nodeIp);
    expect(accepted().slice(before)).toEqual([
      expect.objectContaining({ remoteAddress: topo.pod("client").ip, localAddress: topo.pod("server").ip, localPort: 80 }),
    ]);
  });

  test("traffic to an endpoint that is not enforced is not intercepted", async () => {
    const before = accepted().length;
    const answer = await get("client", topo.pod("other").ip);
    expect(answer.server).toBe("other");
    expect(answer.remoteAddress).toBe(topo.pod("client").ip);
    expect(accepted().length).toBe(before);
  });

  test("installing twice leaves one copy of everything", async () => {
    const snapshot = async (): Promise<string> =>
      [
        await topo.run(topo.nodeNs, ["nft", "list", "ruleset"]),
        await topo.run(topo.nodeNs, ["ip", "-4", "rule", "show"]),
        await topo.run(topo.nodeNs, ["ip", "-6", "rule", "show"]),
        await topo.run(topo.nodeNs, ["ip", "-4", "route", "show", "table", "157"]),
      ].join("\n");
    const once = await snapshot();
    await installRules(spec, scope());
    await installRules(spec, scope());
    expect(await snapshot()).toBe(once);
    expect(once.match(/fwmark 0x7e57 lookup 157/g)).toHaveLength(2); // one IPv4, one IPv6 rule
    expect(once.match(/table inet l7proxy/g)).toHaveLength(1);
    expect(await rulesInstalled(spec, scope())).toBe(true);
    // And the data path still works after reinstalling.
    expect((await get("client", topo.pod("server").ip)).remoteAddress).toBe(topo.nodeIp);
  });

  test("with no proxy listening, connections to an enforced endpoint fail closed and never reach it", async () => {
    await stopListener();
    try {
      const seenBefore = server.connections().length;
      for (const host of [topo.pod("server").ip, VIP]) {
        const result = await topo.curl("client", `http://${host}:80/`, [], 2);
        expect(result.code, `curl to ${host} must fail, got: ${result.stdout}`).not.toBe(0);
        // Reset at once (7: connection refused) rather than timing out (28).
        expect(result.code).toBe(7);
      }
      expect(server.connections().length).toBe(seenBefore);
      // Unenforced traffic is unaffected by the missing proxy.
      expect((await get("client", topo.pod("other").ip)).remoteAddress).toBe(topo.pod("client").ip);
    } finally {
      await startListener();
    }
  });

  test("updating the enforced addresses moves interception to the new endpoints", async () => {
    await updateEnforcedIps({ ...spec, ingressIps: [topo.pod("other").ip] }, scope());
    try {
      expect((await get("client", topo.pod("other").ip)).remoteAddress).toBe(topo.nodeIp);
      expect((await get("client", topo.pod("server").ip)).remoteAddress).toBe(topo.pod("client").ip);
    } finally {
      await updateEnforcedIps(spec, scope());
    }
    expect((await get("client", topo.pod("server").ip)).remoteAddress).toBe(topo.nodeIp);
  });

  test("egress: connections from an egress-enforced endpoint are intercepted, whatever their destination", async () => {
    const egress = { ...spec, ingressIps: [], egressIps: [topo.pod("client").ip] };
    await updateEnforcedIps(egress, scope());
    try {
      const before = accepted().length;
      const answer = await get("client", topo.pod("other").ip);
      expect(answer.server).toBe("other");
      expect(answer.remoteAddress).toBe(topo.nodeIp);
      expect(accepted().slice(before)).toEqual([
        expect.objectContaining({ remoteAddress: topo.pod("client").ip, localAddress: topo.pod("other").ip, localPort: 80 }),
      ]);
      // The server pod's egress is not enforced: its own connections go straight through.
      const fromServer = await get("server", topo.pod("other").ip);
      expect(fromServer.remoteAddress).toBe(topo.pod("server").ip);
    } finally {
      await updateEnforcedIps(spec, scope());
    }
  });

  test("an egress-enforced server's replies to the proxy are not redirected back into it", async () => {
    // The server's egress and ingress are both enforced: its replies to the proxy's upstream
    // connection come from an egress-enforced address but must reach the proxy's socket.
    await updateEnforcedIps({ ...spec, egressIps: [topo.pod("server").ip] }, scope());
    try {
      const answer = await get("client", topo.pod("server").ip);
      expect(answer.server).toBe("server");
      expect(answer.remoteAddress).toBe(topo.nodeIp);
    } finally {
      await updateEnforcedIps(spec, scope());
    }
  });

  test("a source-preserving upstream connection (transparent bind to the client IP) gets its replies", async () => {
    await stopListener();
    await startListener({ preserveSource: true });
    const answer = await get("client", topo.pod("server").ip);
    expect(answer.server).toBe("server");
    // The server sees the real client, yet the connection went through the proxy.
    expect(answer.remoteAddress).toBe(topo.pod("client").ip);
    expect(accepted()).toHaveLength(1);
    const upstream = await listener!.waitForUpstream();
    expect(upstream).toMatchObject({ localAddress: topo.pod("client").ip, transparent: true });
    await stopListener();
    await startListener();
  });

  test("uninstall leaves nothing behind, and is fine when nothing is installed", async () => {
    await uninstallRules(spec, scope());
    await uninstallRules(spec, scope());
    expect(await topo.run(topo.nodeNs, ["nft", "list", "ruleset"])).not.toContain("l7proxy");
    expect(await topo.run(topo.nodeNs, ["ip", "-4", "rule", "show"])).not.toContain("fwmark");
    expect(await topo.run(topo.nodeNs, ["ip", "-6", "rule", "show"])).not.toContain("fwmark");
    const routes = await topo.exec(topo.nodeNs, ["ip", "-4", "route", "show", "table", "157"]);
    expect(routes.stdout.trim()).toBe("");
    expect(await rulesInstalled(spec, scope())).toBe(false);
    // Traffic flows directly again.
    expect((await get("client", topo.pod("server").ip)).remoteAddress).toBe(topo.pod("client").ip);
  });
});
