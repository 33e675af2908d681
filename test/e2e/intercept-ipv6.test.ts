// IPv6 through the nftables rules (the ip6 sets and `tproxy ip6`), in network namespaces
// whose pods have both an IPv4 and an IPv6 address, with one dual-stack transparent listener.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type InterceptSpec, installRules, uninstallRules } from "../../src/intercept/rules.js";
import { TestTopology } from "../support/netns.js";
import { requireRootOrSkip } from "../support/root.js";
import { type ListenerStub, startTransparentListener } from "../support/netns-listener.js";

const PROXY_PORT = 15001;

describe.runIf(requireRootOrSkip("intercept-ipv6 e2e"))("kernel interception over IPv6 (nftables)", () => {
  let topo: TestTopology;
  let listener: ListenerStub;
  let spec: InterceptSpec;

  async function get(from: string, url: string): Promise<{ server: string; remoteAddress: string }> {
    const result = await topo.curl(from, url);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { server: string; remoteAddress: string };
  }

  beforeAll(async () => {
    topo = await TestTopology.create({
      tag: `i6p${process.pid % 100000}`,
      pods: [
        { name: "client", ip: "10.200.21.2", ip6: "fd00:200::21:2" },
        { name: "server", ip: "10.200.22.2", ip6: "fd00:200::22:2" },
        { name: "other", ip: "10.200.23.2", ip6: "fd00:200::23:2" },
      ],
    });
    await topo.startHttpServer("server");
    await topo.startHttpServer("other");
    spec = {
      backend: "nft",
      table: "l7proxy",
      proxyPort: PROXY_PORT,
      mark: 0x7e57,
      routeTable: 157,
      excludeMark: 0x7e58,
      ingressIps: [topo.pod("server").ip, topo.pod("server").ip6!],
      egressIps: [],
    };
    await installRules(spec, { netns: topo.nodeNs });
    listener = await startTransparentListener(topo, { port: PROXY_PORT, host: "::", upstreamMark: 0x7e58 });
  });

  afterAll(async () => {
    await listener?.stop();
    await uninstallRules(spec, { netns: topo.nodeNs }).catch(() => undefined);
    await topo?.destroy();
  });

  test("an IPv6 connection to an enforced endpoint reaches the proxy with its original destination", async () => {
    const answer = await get("client", `http://[${topo.pod("server").ip6}]:80/`);
    expect(answer).toMatchObject({ server: "server", remoteAddress: topo.nodeIp6 });
    expect(listener.accepted().at(-1)).toMatchObject({
      remoteAddress: topo.pod("client").ip6,
      localAddress: topo.pod("server").ip6,
      localPort: 80,
    });
  });

  test("one dual-stack transparent listener also takes the IPv4 connections", async () => {
    const answer = await get("client", `http://${topo.pod("server").ip}:80/`);
    expect(answer).toMatchObject({ server: "server", remoteAddress: topo.nodeIp });
    expect(listener.accepted().at(-1)).toMatchObject({ remoteAddress: topo.pod("client").ip, localAddress: topo.pod("server").ip });
  });

  test("IPv6 traffic to an endpoint that is not enforced is not intercepted", async () => {
    const before = listener.accepted().length;
    const answer = await get("client", `http://[${topo.pod("other").ip6}]:80/`);
    expect(answer).toMatchObject({ server: "other", remoteAddress: topo.pod("client").ip6 });
    expect(listener.accepted().length).toBe(before);
  });

  test("the IPv6 routing half is installed and removed with the rest", async () => {
    expect(await topo.run(topo.nodeNs, ["ip", "-6", "route", "show", "table", "157"])).toContain("local default dev lo");
    await uninstallRules(spec, { netns: topo.nodeNs });
    expect(await topo.run(topo.nodeNs, ["ip", "-6", "rule", "show"])).not.toContain("fwmark");
    const answer = await get("client", `http://[${topo.pod("server").ip6}]:80/`);
    expect(answer.remoteAddress).toBe(topo.pod("client").ip6);
  });
});
