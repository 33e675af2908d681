// A one-node cluster in network namespaces: a "node" namespace that routes between pod
// namespaces, each joined to it by a veth pair, the way a CNI plugin wires pods to a node.
// The node namespace is where l7proxy runs and its TPROXY rules live, like a DaemonSet pod
// with hostNetwork.
//
//   pod netns (eth0, IP/32) ==veth== node netns (route IP/32 dev vethN, proxy_arp)
//
// Pods reach each other, and the node's own address, through the node namespace, so every
// pod-to-pod packet crosses the node's prerouting hook, where interception happens.

import { run, runIn } from "./exec.js";

/** Kubernetes' default Service CIDR: VIPs used with a DNAT rule standing in for kube-proxy. */
export const SERVICE_CIDR = "10.96.0.0/12";

export interface PodSpec {
  name: string;
  ip: string;
}

export interface Pod extends PodSpec {
  netns: string;
}

export interface Topology {
  tag: string;
  nodeNetns: string;
  /** The node's own address (sources the proxy's upstream connections). */
  nodeIp: string;
  pods: Map<string, Pod>;
  pod(name: string): Pod;
  destroy(): Promise<void>;
}

/** `tag` must be short (interface names are limited to 15 characters) and unique per run. */
export async function createTopology(opts: { tag: string; pods: PodSpec[]; nodeIp?: string }): Promise<Topology> {
  const { tag } = opts;
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`topology tag must be 1-8 lowercase letters/digits: ${tag}`);
  const nodeNetns = `${tag}-node`;
  const nodeIp = opts.nodeIp ?? "10.200.255.1";
  const created: string[] = [];
  const topo: Topology = {
    tag,
    nodeNetns,
    nodeIp,
    pods: new Map(),
    pod(name) {
      const p = this.pods.get(name);
      if (p === undefined) throw new Error(`no pod ${name} in topology ${tag}`);
      return p;
    },
    async destroy() {
      for (const ns of created.reverse()) await run("ip", ["netns", "del", ns], { allowFail: true });
    },
  };
  try {
    await run("ip", ["netns", "add", nodeNetns]);
    created.push(nodeNetns);
    const node = (cmd: string, ...args: string[]) => runIn(nodeNetns, cmd, args);
    await node("ip", "link", "set", "lo", "up");
    await node("ip", "addr", "add", `${nodeIp}/32`, "dev", "lo");
    await node("sysctl", "-qw", "net.ipv4.ip_forward=1");
    // TPROXY'd packets arrive for addresses that are not local; strict reverse-path
    // filtering would drop them.
    await node("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0");
    await node("sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0");
    // Service VIPs live on no interface; a route for the Service CIDR lets the node answer
    // pods' ARP for them (proxy_arp), after which its DNAT (kube-proxy's job) takes over.
    // (Via lo: the route only has to exist and be unicast; DNAT rewrites before routing.)
    await node("ip", "route", "add", SERVICE_CIDR, "dev", "lo");
    let i = 0;
    for (const spec of opts.pods) {
      i += 1;
      const netns = `${tag}-${spec.name}`;
      const hostIf = `${tag}h${i}`;
      await run("ip", ["netns", "add", netns]);
      created.push(netns);
      await run("ip", ["link", "add", hostIf, "netns", nodeNetns, "type", "veth", "peer", "name", "eth0", "netns", netns]);
      const pod = (cmd: string, ...args: string[]) => runIn(netns, cmd, args);
      await pod("ip", "link", "set", "lo", "up");
      await pod("ip", "addr", "add", `${spec.ip}/32`, "dev", "eth0");
      await pod("ip", "link", "set", "eth0", "up");
      await pod("ip", "route", "add", "default", "dev", "eth0", "scope", "link");
      await node("sysctl", "-qw", `net.ipv4.conf.${hostIf}.rp_filter=0`);
      await node("sysctl", "-qw", `net.ipv4.conf.${hostIf}.proxy_arp=1`);
      await node("ip", "link", "set", hostIf, "up");
      await node("ip", "route", "add", `${spec.ip}/32`, "dev", hostIf);
      topo.pods.set(spec.name, { ...spec, netns });
    }
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}
