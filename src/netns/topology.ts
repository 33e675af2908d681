// A one-node cluster in network namespaces: a "node" namespace that routes between pod
// namespaces, each joined to it by a veth pair, the way a CNI plugin wires pods to a node.
// The node namespace is where l7proxy runs and its TPROXY rules live, like a DaemonSet pod
// with hostNetwork. The demo, the benchmark and the end-to-end tests all stand on it.
//
//   pod netns (eth0, IP/32) ==veth== node netns (route IP/32 dev vethN, proxy_arp)
//
// Pods reach each other, and the node's own address, through the node namespace, so every
// pod-to-pod packet crosses the node's prerouting hook, where interception happens.
//
// A pod may have an IPv6 address too. IPv6 has no proxy_arp, so there the node's address
// sits on every pod-facing veth and is the pods' gateway (Calico's style of addressing);
// the path through the node, and so interception, is the same.

import net from "node:net";
import { run, runIn } from "./exec.js";

/** Kubernetes' default Service CIDR: VIPs used with a DNAT rule standing in for kube-proxy. */
const SERVICE_CIDR = "10.96.0.0/12";
const DEFAULT_NODE_IP = "10.200.255.1";
const DEFAULT_NODE_IP6 = "fd00:200::fffe";

export interface PodSpec {
  name: string;
  ip: string;
  /** IPv6 address as well (fd00:200::/64 style ULA addresses suit tests). */
  ip6?: string;
}

export interface Pod extends PodSpec {
  netns: string;
  /** The node-side end of the pod's veth (in the node namespace). */
  hostIf: string;
}

export interface TopologyOptions {
  /** Short (interface names are limited to 15 characters) and unique per run, e.g. with the pid. */
  tag: string;
  pods: PodSpec[];
  /** The node's own address (sources the proxy's upstream connections). */
  nodeIp?: string;
  /** The node's IPv6 address, the gateway of pods that have an ip6. */
  nodeIp6?: string;
}

export interface Topology {
  tag: string;
  nodeNetns: string;
  /** The node's own address (sources the proxy's upstream connections). */
  nodeIp: string;
  /** The node's IPv6 address (sources the proxy's IPv6 upstream connections). */
  nodeIp6: string;
  pods: Map<string, Pod>;
  pod(name: string): Pod;
  destroy(): Promise<void>;
}

export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  const { tag } = opts;
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`topology tag must be 1-8 lowercase letters/digits: ${tag}`);
  const nodeIp = opts.nodeIp ?? DEFAULT_NODE_IP;
  const nodeIp6 = opts.nodeIp6 ?? DEFAULT_NODE_IP6;
  checkSpecs(opts.pods, nodeIp, nodeIp6);
  const nodeNetns = `${tag}-node`;
  const created: string[] = [];
  const topo: Topology = {
    tag,
    nodeNetns,
    nodeIp,
    nodeIp6,
    pods: new Map(),
    pod(name) {
      const p = this.pods.get(name);
      if (p === undefined) throw new Error(`no pod ${name} in topology ${tag}`);
      return p;
    },
    async destroy() {
      // Deleting a namespace takes its veths, routes and sockets with it.
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
    const ipv6 = opts.pods.some((p) => p.ip6 !== undefined);
    // Duplicate address detection keeps new interfaces' link-local addresses tentative for a
    // second or two, during which neighbour discovery (and so the first packets) can fail.
    // These namespaces are private links: turn it off before any interface exists.
    const noDad = async (ns: string): Promise<void> => {
      if (ipv6) await runIn(ns, "sysctl", ["-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]);
    };
    await noDad(nodeNetns);
    if (ipv6) await node("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
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
      await noDad(netns);
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
      if (spec.ip6 !== undefined) {
        // nodad: usable at once, without waiting for duplicate address detection.
        await node("ip", "-6", "addr", "add", `${nodeIp6}/128`, "dev", hostIf, "nodad");
        await node("ip", "-6", "route", "add", `${spec.ip6}/128`, "dev", hostIf);
        await pod("ip", "-6", "addr", "add", `${spec.ip6}/128`, "dev", "eth0", "nodad");
        await pod("ip", "-6", "route", "add", `${nodeIp6}/128`, "dev", "eth0");
        await pod("ip", "-6", "route", "add", "default", "via", nodeIp6, "dev", "eth0");
      }
      topo.pods.set(spec.name, { ...spec, netns, hostIf });
    }
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}

// Caught before anything is created, so a typo never leaves half a topology behind.
function checkSpecs(pods: readonly PodSpec[], nodeIp: string, nodeIp6: string): void {
  if (!net.isIPv4(nodeIp)) throw new Error(`node address "${nodeIp}" is not an IPv4 address`);
  if (!net.isIPv6(nodeIp6)) throw new Error(`node address "${nodeIp6}" is not an IPv6 address`);
  const names = new Set<string>();
  for (const p of pods) {
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(p.name)) throw new Error(`pod name "${p.name}" must be 1-40 letters, digits, dots, dashes or underscores`);
    if (names.has(p.name)) throw new Error(`pod name "${p.name}" is used twice`);
    names.add(p.name);
    if (!net.isIPv4(p.ip)) throw new Error(`pod ${p.name}: "${p.ip}" is not an IPv4 address`);
    if (p.ip6 !== undefined && !net.isIPv6(p.ip6)) throw new Error(`pod ${p.name}: "${p.ip6}" is not an IPv6 address`);
  }
}
