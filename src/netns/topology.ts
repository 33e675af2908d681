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
//
// Several nodes: each is its own node namespace with its own pods, joined to the others by a
// veth into a bridge (the "fabric" namespace, the cluster's network), with a route to every
// other node's pods via that node (as a routed CNI such as Calico or Cilium's native routing
// sets up). A packet from a pod on node 1 to a pod on node 2 crosses node 1's prerouting,
// the fabric, then node 2's prerouting: each node's proxy sees its own side.
//
//   node1 netns (fab0) ==veth== fabric netns (br0) ==veth== (fab0) node2 netns

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
  /** The node the pod runs on (one of TopologyOptions.nodes); default the first node. */
  node?: string;
}

export interface Pod extends PodSpec {
  netns: string;
  /** The node-side end of the pod's veth (in the node namespace). */
  hostIf: string;
  node: string;
  /** The namespace of the pod's node. */
  nodeNetns: string;
}

export interface NodeSpec {
  name: string;
  /** The node's own address; default 10.200.255.1 for the first node, .2 for the second... */
  ip?: string;
  /** The node's IPv6 address; default fd00:200::fffe for the first, ::fffd for the second... */
  ip6?: string;
}

export interface TopologyNode {
  name: string;
  netns: string;
  ip: string;
  ip6: string;
}

export interface TopologyOptions {
  /** Short (interface names are limited to 15 characters) and unique per run, e.g. with the pid. */
  tag: string;
  pods: PodSpec[];
  /** The node's own address (sources the proxy's upstream connections). */
  nodeIp?: string;
  /** The node's IPv6 address, the gateway of pods that have an ip6. */
  nodeIp6?: string;
  /**
   * The cluster's nodes (default one, named "node", with nodeIp and nodeIp6). The first one's
   * namespace is `<tag>-node`, the others' `<tag>-node2`, `<tag>-node3`...
   */
  nodes?: NodeSpec[];
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
  /** Every node, in the order given; the first one is nodeNetns/nodeIp/nodeIp6. */
  nodes: TopologyNode[];
  node(name: string): TopologyNode;
  destroy(): Promise<void>;
}

export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  const { tag } = opts;
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`topology tag must be 1-8 lowercase letters/digits: ${tag}`);
  const nodes = nodeList(opts);
  checkSpecs(opts.pods, nodes);
  const first = nodes[0] as TopologyNode;
  const created: string[] = [];
  const topo: Topology = {
    tag,
    nodeNetns: first.netns,
    nodeIp: first.ip,
    nodeIp6: first.ip6,
    pods: new Map(),
    pod(name) {
      const p = this.pods.get(name);
      if (p === undefined) throw new Error(`no pod ${name} in topology ${tag}`);
      return p;
    },
    nodes,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (n === undefined) throw new Error(`no node ${name} in topology ${tag}`);
      return n;
    },
    async destroy() {
      // Deleting a namespace takes its veths, routes and sockets with it.
      for (const ns of created.reverse()) await run("ip", ["netns", "del", ns], { allowFail: true });
    },
  };
  const ipv6 = opts.pods.some((p) => p.ip6 !== undefined);
  // Duplicate address detection keeps new interfaces' link-local addresses tentative for a
  // second or two, during which neighbour discovery (and so the first packets) can fail.
  // These namespaces are private links: turn it off before any interface exists.
  const noDad = async (ns: string): Promise<void> => {
    if (ipv6) await runIn(ns, "sysctl", ["-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]);
  };
  try {
    for (const n of nodes) {
      await run("ip", ["netns", "add", n.netns]);
      created.push(n.netns);
      await setUpNode(n, ipv6, noDad);
    }
    let i = 0;
    for (const spec of opts.pods) {
      i += 1;
      const n = spec.node === undefined ? first : topo.node(spec.node);
      const netns = `${tag}-${spec.name}`;
      const hostIf = `${tag}h${i}`;
      await run("ip", ["netns", "add", netns]);
      created.push(netns);
      await noDad(netns);
      await addPod(n, spec, netns, hostIf);
      topo.pods.set(spec.name, { ...spec, netns, hostIf, node: n.name, nodeNetns: n.netns });
    }
    if (nodes.length > 1) {
      const fabric = `${tag}-fabric`;
      await run("ip", ["netns", "add", fabric]);
      created.push(fabric);
      await noDad(fabric);
      await joinFabric(tag, fabric, nodes, [...topo.pods.values()], ipv6);
    }
  } catch (err) {
    await topo.destroy();
    throw err;
  }
  return topo;
}

function nodeList(opts: TopologyOptions): TopologyNode[] {
  const specs = opts.nodes ?? [{ name: "node" }];
  if (specs.length === 0) throw new Error("a topology needs at least one node");
  return specs.map((n, k) => ({
    name: n.name,
    netns: k === 0 ? `${opts.tag}-node` : `${opts.tag}-node${k + 1}`,
    ip: n.ip ?? (k === 0 ? (opts.nodeIp ?? DEFAULT_NODE_IP) : `10.200.255.${k + 1}`),
    ip6: n.ip6 ?? (k === 0 ? (opts.nodeIp6 ?? DEFAULT_NODE_IP6) : `fd00:200::${(0xfffe - k).toString(16)}`),
  }));
}

async function setUpNode(n: TopologyNode, ipv6: boolean, noDad: (ns: string) => Promise<void>): Promise<void> {
  const node = (cmd: string, ...args: string[]) => runIn(n.netns, cmd, args);
  await node("ip", "link", "set", "lo", "up");
  await node("ip", "addr", "add", `${n.ip}/32`, "dev", "lo");
  await node("sysctl", "-qw", "net.ipv4.ip_forward=1");
  await noDad(n.netns);
  if (ipv6) await node("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
  // TPROXY'd packets arrive for addresses that are not local; strict reverse-path
  // filtering would drop them.
  await node("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0");
  await node("sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0");
  // Service VIPs live on no interface; a route for the Service CIDR lets the node answer
  // pods' ARP for them (proxy_arp), after which its DNAT (kube-proxy's job) takes over.
  // (Via lo: the route only has to exist and be unicast; DNAT rewrites before routing.)
  await node("ip", "route", "add", SERVICE_CIDR, "dev", "lo");
}

async function addPod(n: TopologyNode, spec: PodSpec, netns: string, hostIf: string): Promise<void> {
  const node = (cmd: string, ...args: string[]) => runIn(n.netns, cmd, args);
  await run("ip", ["link", "add", hostIf, "netns", n.netns, "type", "veth", "peer", "name", "eth0", "netns", netns]);
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
    await node("ip", "-6", "addr", "add", `${n.ip6}/128`, "dev", hostIf, "nodad");
    await node("ip", "-6", "route", "add", `${spec.ip6}/128`, "dev", hostIf);
    await pod("ip", "-6", "addr", "add", `${spec.ip6}/128`, "dev", "eth0", "nodad");
    await pod("ip", "-6", "route", "add", `${n.ip6}/128`, "dev", "eth0");
    await pod("ip", "-6", "route", "add", "default", "via", n.ip6, "dev", "eth0");
  }
}

// Every node gets a leg on the bridge and, for each other node, a route to that node's
// address and to each of its pods via it.
async function joinFabric(tag: string, fabric: string, nodes: readonly TopologyNode[], pods: readonly Pod[], ipv6: boolean): Promise<void> {
  const fab = (cmd: string, ...args: string[]) => runIn(fabric, cmd, args);
  await fab("ip", "link", "set", "lo", "up");
  await fab("ip", "link", "add", "br0", "type", "bridge");
  await fab("ip", "link", "set", "br0", "up");
  for (const [k, n] of nodes.entries()) {
    const leg = `${tag}f${k + 1}`;
    await run("ip", ["link", "add", leg, "netns", fabric, "type", "veth", "peer", "name", "fab0", "netns", n.netns]);
    await fab("ip", "link", "set", leg, "master", "br0");
    await fab("ip", "link", "set", leg, "up");
    const node = (cmd: string, ...args: string[]) => runIn(n.netns, cmd, args);
    await node("sysctl", "-qw", "net.ipv4.conf.fab0.rp_filter=0");
    await node("ip", "link", "set", "fab0", "up");
    // Neighbour discovery answers only for addresses of the interface asked on (ARP answers
    // for any local address), so the IPv6 node address sits on the fabric leg too.
    if (ipv6) await node("ip", "-6", "addr", "add", `${n.ip6}/128`, "dev", "fab0", "nodad");
  }
  for (const n of nodes) {
    const node = (cmd: string, ...args: string[]) => runIn(n.netns, cmd, args);
    for (const other of nodes) {
      if (other === n) continue;
      await node("ip", "route", "add", `${other.ip}/32`, "dev", "fab0", "src", n.ip);
      if (ipv6) await node("ip", "-6", "route", "add", `${other.ip6}/128`, "dev", "fab0");
      for (const p of pods) {
        if (p.node !== other.name) continue;
        await node("ip", "route", "add", `${p.ip}/32`, "via", other.ip, "dev", "fab0", "src", n.ip);
        if (ipv6 && p.ip6 !== undefined) await node("ip", "-6", "route", "add", `${p.ip6}/128`, "via", other.ip6, "dev", "fab0");
      }
    }
  }
}

// Caught before anything is created, so a typo never leaves half a topology behind.
function checkSpecs(pods: readonly PodSpec[], nodes: readonly TopologyNode[]): void {
  const nodeNames = new Set<string>();
  for (const n of nodes) {
    if (!net.isIPv4(n.ip)) throw new Error(`node ${n.name}: address "${n.ip}" is not an IPv4 address`);
    if (!net.isIPv6(n.ip6)) throw new Error(`node ${n.name}: address "${n.ip6}" is not an IPv6 address`);
    if (nodeNames.has(n.name)) throw new Error(`node name "${n.name}" is used twice`);
    nodeNames.add(n.name);
  }
  const names = new Set<string>();
  for (const p of pods) {
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(p.name)) throw new Error(`pod name "${p.name}" must be 1-40 letters, digits, dots, dashes or underscores`);
    if (names.has(p.name)) throw new Error(`pod name "${p.name}" is used twice`);
    names.add(p.name);
    if (!net.isIPv4(p.ip)) throw new Error(`pod ${p.name}: "${p.ip}" is not an IPv4 address`);
    if (p.ip6 !== undefined && !net.isIPv6(p.ip6)) throw new Error(`pod ${p.name}: "${p.ip6}" is not an IPv6 address`);
    if (p.node !== undefined && !nodeNames.has(p.node)) throw new Error(`pod ${p.name}: no node "${p.node}" in the topology`);
  }
}
