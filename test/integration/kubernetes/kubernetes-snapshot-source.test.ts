// Policies created, changed and deleted through the (stand-in) API server change what the
// compiled snapshot in the holder decides; only this node's pods are enforced.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { SnapshotHolder } from "../../../src/control/snapshot-holder.js";
import { startKubernetesSnapshotSource } from "../../../src/control/kubernetes/kubernetes-snapshot-source.js";
import type { KubernetesSource, KubernetesState } from "../../../src/control/kubernetes/index.js";
import { KubeTestApiServer, type KubeObject } from "../../support/kube-test-apiserver.js";

const pod = (name: string, nodeName: string, ip: string, app: string): KubeObject => ({
  metadata: { name, namespace: "shop", labels: { app } },
  spec: { nodeName, containers: [{ name: "c", image: "busybox" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});

const allowClientToWeb = (port: string): KubeObject => ({
  apiVersion: "cilium.io/v2",
  kind: "CiliumNetworkPolicy",
  metadata: { name: "web-ingress", namespace: "shop" },
  spec: {
    endpointSelector: { matchLabels: { app: "web" } },
    ingress: [{ fromEndpoints: [{ matchLabels: { app: "client" } }], toPorts: [{ ports: [{ port, protocol: "TCP" }] }] }],
  },
});

const WEB = "10.0.1.1";
const CLIENT = "10.0.1.2";
const OTHER = "10.0.2.1";

describe("Kubernetes snapshot source", () => {
  let server: KubeTestApiServer;
  let source: KubernetesSource | undefined;
  let holder: SnapshotHolder;
  let states: KubernetesState[];

  beforeEach(async () => {
    server = await KubeTestApiServer.start();
    server.apply("namespaces", { metadata: { name: "shop" } });
    server.apply("pods", pod("web", "node-a", WEB, "web"));
    server.apply("pods", pod("client", "node-a", CLIENT, "client"));
    server.apply("pods", pod("other", "node-b", OTHER, "other"));
    holder = new SnapshotHolder();
    states = [];
  });

  afterEach(async () => {
    await source?.stop();
    await server.close();
  });

  const start = async () => {
    source = await startKubernetesSnapshotSource({
      holder,
      logger: pino({ level: "silent" }),
      nodeName: "node-a",
      kubeConfig: server.kubeConfig(),
      onState: (s) => void states.push(s),
      tuning: { backoff: { initialMs: 50, maxMs: 400 } },
    });
    return source;
  };

  const allowed = (src: string, dst: string, port: number) => holder.current!.decideFlow({ srcIp: src, dstIp: dst, dstPort: port, protocol: "TCP" }).allowed;

  async function until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("keeps the holder empty (fail closed) until the first full sync", async () => {
    server.failLists("networkpolicies", 503);
    await start();
    await until(() => states.length > 0, "a first state");
    expect(states.every((s) => !s.synced)).toBe(true);
    expect(holder.current).toBeNull();
    server.failLists("networkpolicies", undefined);
    await until(() => holder.current !== null, "a snapshot after sync");
  });

  it("enforces a policy created, changed and deleted through the API", async () => {
    await (await start()).waitForSync(5000);
    await until(() => holder.current !== null, "the first snapshot");
    expect(allowed(OTHER, WEB, 80)).toBe(true);

    server.apply("ciliumnetworkpolicies", allowClientToWeb("80"));
    await until(() => !allowed(OTHER, WEB, 80), "the policy to deny other -> web");
    expect(allowed(CLIENT, WEB, 80)).toBe(true);
    expect(allowed(CLIENT, WEB, 8080)).toBe(false);
    expect(holder.current!.enforcedIps().ingress).toEqual([WEB]);

    server.apply("ciliumnetworkpolicies", allowClientToWeb("8080"));
    await until(() => allowed(CLIENT, WEB, 8080), "the changed port");
    expect(allowed(CLIENT, WEB, 80)).toBe(false);

    // An invalid update keeps the last good version enforced and says so.
    server.apply("ciliumnetworkpolicies", allowClientToWeb("70000"));
    await until(() => holder.info.lastError !== null, "the invalid update to be reported");
    expect(holder.info.lastError).toMatch(/shop\/web-ingress/);
    expect(allowed(CLIENT, WEB, 8080)).toBe(true);

    server.delete("ciliumnetworkpolicies", "web-ingress", "shop");
    await until(() => allowed(OTHER, WEB, 80), "the deletion");
    expect(holder.current!.enforcedIps().ingress).toEqual([]);
  });

  it("enforces headerMatches with a Secret's value, follows its rotation, and never logs it", async () => {
    const b64 = (v: string) => Buffer.from(v).toString("base64");
    const logged: string[] = [];
    server.apply("secrets", { metadata: { name: "api-token", namespace: "shop" }, type: "Opaque", data: { token: b64("first-t0ken") } });
    server.apply("ciliumnetworkpolicies", {
      apiVersion: "cilium.io/v2",
      kind: "CiliumNetworkPolicy",
      metadata: { name: "token-only", namespace: "shop" },
      spec: {
        endpointSelector: { matchLabels: { app: "web" } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { app: "client" } }],
            toPorts: [{ ports: [{ port: "80", protocol: "TCP" }], rules: { http: [{ method: "GET", headerMatches: [{ name: "X-Token", secret: { name: "api-token" } }] }] } }],
          },
        ],
      },
    });
    source = await startKubernetesSnapshotSource({
      holder,
      logger: pino({ level: "debug" }, { write: (line: string) => void logged.push(line) }),
      nodeName: "node-a",
      kubeConfig: server.kubeConfig(),
      tuning: { backoff: { initialMs: 50, maxMs: 400 } },
    });
    await source.waitForSync(5000);
    const withToken = (token: string | undefined) => {
      const q = { srcIp: CLIENT, dstIp: WEB, dstPort: 80, protocol: "TCP" as const };
      const snap = holder.current!;
      const headers = new Map(token === undefined ? [] : [["x-token", token]]);
      return snap.decideHttp(snap.decideFlow(q), q, { method: "GET", path: "/", host: "web", header: (n) => headers.get(n) }).allowed;
    };
    await until(() => holder.current !== null && withToken("first-t0ken"), "the Secret's value to be allowed");
    expect(withToken("wrong-t0ken")).toBe(false);
    expect(withToken(undefined)).toBe(false);

    server.apply("secrets", { metadata: { name: "api-token", namespace: "shop" }, type: "Opaque", data: { token: b64("second-t0ken") } });
    await until(() => withToken("second-t0ken"), "the rotated value to be allowed");
    expect(withToken("first-t0ken")).toBe(false);

    // A Secret that goes away leaves no value and no inline fallback: fail closed.
    server.delete("secrets", "api-token", "shop");
    await until(() => !withToken("second-t0ken"), "the deleted Secret to deny");
    expect(withToken("first-t0ken")).toBe(false);
    const log = logged.join("");
    expect(log).toContain("secret shop/api-token is not available");
    expect(log).not.toContain("first-t0ken");
    expect(log).not.toContain("second-t0ken");
  });

  it("uses pods on other nodes as identities but enforces only this node's pods", async () => {
    server.apply("ciliumnetworkpolicies", {
      apiVersion: "cilium.io/v2",
      kind: "CiliumNetworkPolicy",
      metadata: { name: "all-ingress", namespace: "shop" },
      spec: { endpointSelector: {}, ingress: [{ fromEndpoints: [{ matchLabels: { app: "other" } }] }] },
    });
    await (await start()).waitForSync(5000);
    await until(() => holder.current !== null, "the first snapshot");
    // The remote pod's labels select it as an allowed peer...
    expect(allowed(OTHER, WEB, 80)).toBe(true);
    expect(allowed(CLIENT, WEB, 80)).toBe(false);
    // ...but only local pods are redirected to this node's proxy.
    expect([...holder.current!.enforcedIps().ingress].sort()).toEqual([WEB, CLIENT]);
    // The kernel's UDP/SCTP rules likewise: for local pods only, with the remote pod as a peer.
    const nonTcp = holder.current!.nonTcpPolicy();
    expect(nonTcp.endpointIps).toContain(OTHER);
    expect(nonTcp.allow.map((r) => `${r.ip} ${r.protocol} ${r.portLo}-${r.portHi} ${r.endpointPeers.join(",")}`).sort()).toEqual([
      `${WEB} SCTP 0-65535 ${OTHER}/32`,
      `${WEB} UDP 0-65535 ${OTHER}/32`,
      `${CLIENT} SCTP 0-65535 ${OTHER}/32`,
      `${CLIENT} UDP 0-65535 ${OTHER}/32`,
    ].sort());
  });
});
