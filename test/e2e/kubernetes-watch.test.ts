// `l7proxy run --kubernetes` end to end: the proxy, in the node namespace, watches a test API
// server (standing in for kube-apiserver, which cannot run here) across a veth link; policies
// created, changed, broken and deleted through that server change what is enforced on real
// intercepted traffic.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, sleep } from "../../src/netns/cluster.js";
import { run, runIn } from "../../src/netns/exec.js";
import { KubeTestApiServer, type KubeObject } from "../support/kube-test-apiserver.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("Kubernetes watch e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const N = (process.pid % 250) + 1;
const API_HOST = `10.209.${N}.1`;
const NODE_SIDE = `10.209.${N}.2`;
const LINK = `k8s${process.pid % 100000}`;

const pod = (name: string, ip: string, app: string, nodeName = "node-a"): KubeObject => ({
  metadata: { name, namespace: "default", labels: { app } },
  spec: { nodeName, containers: [{ name: "c", image: "busybox" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});

const httpPolicy = (paths: string[]): KubeObject => ({
  apiVersion: "cilium.io/v2",
  kind: "CiliumNetworkPolicy",
  metadata: { name: "upstream-l7", namespace: "default" },
  spec: {
    endpointSelector: { matchLabels: { app: "upstream" } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: "client" } }],
        toPorts: [{ ports: [{ port: "80", protocol: "TCP" }], rules: { http: paths.map((path) => ({ method: "GET", path })) } }],
      },
    ],
  },
});

/** Polls until the status of GET path from the client is `want` (policy changes take effect asynchronously). */
async function eventually(cluster: NetnsCluster, path: string, want: number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    last = (await cluster.curl("client", [`http://10.203.0.20${path}`])).status;
    if (last === want) return last;
    await sleep(100);
  }
  return last;
}

describe.runIf(canRun)("run --kubernetes", () => {
  let api: KubeTestApiServer;
  let dir: string;
  let cluster: NetnsCluster;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "l7proxy-k8s-"));
    const kubeconfig = join(dir, "kubeconfig");
    cluster = new NetnsCluster(`ks${process.pid % 100000}`, {
      endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
      adminPort: 9905,
      servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream"] }],
      policySource: { kubernetes: { kubeconfig, nodeName: "node-a" } },
    });
    // Build the topology without a proxy first: the API server must be reachable from the
    // node namespace before the proxy starts.
    await cluster.start({ proxy: false });
    await run("ip", ["link", "add", LINK, "type", "veth", "peer", "name", "api0", "netns", cluster.topo.nodeNetns]);
    await run("ip", ["addr", "add", `${API_HOST}/30`, "dev", LINK]);
    await run("ip", ["link", "set", LINK, "up"]);
    await runIn(cluster.topo.nodeNetns, "ip", ["addr", "add", `${NODE_SIDE}/30`, "dev", "api0"]);
    await runIn(cluster.topo.nodeNetns, "ip", ["link", "set", "api0", "up"]);
    api = await KubeTestApiServer.start({ host: API_HOST });
    api.apply("namespaces", { metadata: { name: "default", labels: { "kubernetes.io/metadata.name": "default" } } });
    api.apply("pods", pod("client", "10.203.0.10", "client"));
    api.apply("pods", pod("bystander", "10.203.0.11", "client"));
    api.apply("pods", pod("upstream", "10.203.0.20", "upstream"));
    const kc = api.kubeConfig();
    await writeFile(kubeconfig, kc.exportConfig());
    await cluster.startProxy();
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await api?.close();
    await run("ip", ["link", "del", LINK], { allowFail: true });
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test("with no policy in the cluster, nothing is enforced", async () => {
    expect((await cluster.curl("client", ["http://10.203.0.20/anything"])).status).toBe(200);
  });

  test("a policy created through the API is enforced", async () => {
    api.apply("ciliumnetworkpolicies", httpPolicy(["/allowed"]));
    expect(await eventually(cluster, "/forbidden", 403)).toBe(403);
    expect((await cluster.curl("client", ["http://10.203.0.20/allowed"])).status).toBe(200);
  });

  test("a changed policy replaces the old one", async () => {
    api.apply("ciliumnetworkpolicies", httpPolicy(["/forbidden"]));
    expect(await eventually(cluster, "/allowed", 403)).toBe(403);
    expect((await cluster.curl("client", ["http://10.203.0.20/forbidden"])).status).toBe(200);
  });

  test("an invalid change gets an Event and the last good version stays", async () => {
    api.apply("ciliumnetworkpolicies", httpPolicy(["/broken("]));
    let events: KubeObject[] = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      await sleep(100);
      events = api.events().filter((e) => (e as { reason?: string }).reason === "InvalidPolicy");
    }
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events[0])).toContain("upstream-l7");
    expect((await cluster.curl("client", ["http://10.203.0.20/forbidden"])).status).toBe(200);
    expect((await cluster.curl("client", ["http://10.203.0.20/allowed"])).status).toBe(403);
  });

  test("a deleted policy stops being enforced", async () => {
    api.delete("ciliumnetworkpolicies", "upstream-l7", "default");
    expect(await eventually(cluster, "/allowed", 200)).toBe(200);
  });
});
