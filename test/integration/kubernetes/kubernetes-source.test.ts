// The Kubernetes source against a real HTTP server speaking the list/watch protocol
// (test/support/kube-test-apiserver.ts stands in for kube-apiserver, which cannot run here).

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startKubernetesSource, isLocalPod, type KubernetesSource, type KubernetesState } from "../../../src/control/kubernetes/index.js";
import type { LoadedCiliumPolicy } from "../../../src/policy/api/types.js";
import { KubeTestApiServer, type KubeObject } from "../../support/kube-test-apiserver.js";
import { formatDiagnostic, policyFromObject } from "../../../src/policy/load/index.js";
import { inventoryFromKubernetesObjects } from "../../../src/policy/endpoints/kubernetes-objects.js";

interface LogLine {
  level: string;
  obj: object;
  msg: string;
}

function recordingLogger(lines: LogLine[]) {
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function cnp(name: string, namespace: string, port: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumNetworkPolicy",
    metadata: { name, namespace },
    spec: {
      endpointSelector: { matchLabels: { app: "web" } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: "client" } }], toPorts: [{ ports: [{ port, protocol: "TCP" }], ...extra }] }],
    },
  };
}

function pod(name: string, namespace: string, nodeName: string, ip: string, labels: Record<string, string> = {}): KubeObject {
  return {
    metadata: { name, namespace, labels },
    spec: { nodeName, containers: [{ name: "c", image: "busybox" }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** The (apiGroup, resource, verb) an API request needs, as the Kubernetes authorizer sees it. */
function rbacAttributes(method: string, urlPath: string, query: Record<string, string>): string {
  const parts = urlPath.split("/").filter(Boolean);
  const group = parts[0] === "api" ? "" : parts[1]!;
  let rest = parts.slice(parts[0] === "api" ? 2 : 3);
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const resource = rest[0]!;
  const verb = method === "POST" ? "create" : query.watch ? "watch" : rest.length > 1 ? "get" : "list";
  return `${group}/${resource}/${verb}`;
}

const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ metadata: { name, labels } });

const policyNames = (s: KubernetesState) => s.policies.map((p) => `${p.namespace}/${p.name}`).sort();
const firstPort = (s: KubernetesState, name: string) =>
  (s.policies.find((p) => p.name === name) as LoadedCiliumPolicy | undefined)?.rules[0]?.ingress?.[0]?.toPorts?.[0]?.ports?.[0]?.port;

describe("Kubernetes source against the test API server", () => {
  let server: KubeTestApiServer;
  let source: KubernetesSource | undefined;
  let states: KubernetesState[];
  let logs: LogLine[];
  beforeEach(async () => {
    server = await KubeTestApiServer.start();
    states = [];
    logs = [];
    server.apply("namespaces", ns("default"));
    server.apply("namespaces", ns("shop", { team: "shop" }));
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await server.close();
  });

  async function start(nodeName = "node-a"): Promise<KubernetesSource> {
    source = await startKubernetesSource({
      kubeConfig: server.kubeConfig(),
      nodeName,
      convertPolicy: policyFromObject,
      formatDiagnostic,
      onUpdate: (s) => void states.push(s),
      logger: recordingLogger(logs),
      backoff: { initialMs: 50, maxMs: 400 },
    });
    return source;
  }

  /** Waits until the latest handed-over state satisfies `pred`. */
  async function until(pred: (s: KubernetesState) => boolean, timeoutMs = 5000, what = "state"): Promise<KubernetesState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = states.at(-1);
      if (s !== undefined && pred(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(s && { synced: s.synced, policies: policyNames(s), rev: s.revision })}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("hands over a synced state with every policy kind, pod and namespace after the first lists", async () => {
    server.apply("ciliumnetworkpolicies", cnp("allow-web", "shop", "80"));
    server.apply("ciliumclusterwidenetworkpolicies", {
      metadata: { name: "cluster-wide" },
      spec: { endpointSelector: {}, ingress: [{ fromEntities: ["cluster"] }] },
    });
    server.apply("networkpolicies", {
      metadata: { name: "np", namespace: "shop" },
      spec: { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Ingress"], ingress: [{ ports: [{ port: 80, protocol: "TCP" }] }] },
    });
    server.apply("pods", pod("web-1", "shop", "node-a", "10.0.0.5", { app: "web" }));
    const src = await start();
    await src.waitForSync(5000);
    const s = src.current();
    expect(s.synced).toBe(true);
    expect(s.policies.map((p) => `${p.kind} ${p.namespace}/${p.name}`).sort()).toEqual([
      "CiliumClusterwideNetworkPolicy /cluster-wide",
      "CiliumNetworkPolicy shop/allow-web",
      "NetworkPolicy shop/np",
    ]);
    expect(s.pods.map((p) => p.metadata?.name)).toEqual(["web-1"]);
    expect(s.namespaces.map((n) => n.metadata?.name).sort()).toEqual(["default", "shop"]);
    // Built-in list items come without kind/apiVersion; the source fills them in.
    expect(s.pods[0]?.kind).toBe("Pod");
    // The policy arrives as written: NetworkPolicy peers keep their JSON field names.
    const np = s.policies.find((p) => p.kind === "NetworkPolicy");
    expect(np && "spec" in np ? np.spec.ingress?.[0]?.ports?.[0]?.port : undefined).toBe(80);
  });

  it("stays not synced, and says so, until every collection has been listed, retrying failed lists", async () => {
    server.failLists("pods", 503);
    const src = await start();
    await until((s) => !s.synced && s.namespaces.length === 2, 5000, "an unsynced state");
    expect(src.current().synced).toBe(false);
    expect(logs.some((l) => l.level === "warn" && l.msg.includes("retrying"))).toBe(true);
    server.apply("pods", pod("web-1", "shop", "node-a", "10.0.0.5"));
    server.failLists("pods", undefined);
    const s = await until((x) => x.synced, 5000, "synced");
    expect(s.pods.map((p) => p.metadata?.name)).toEqual(["web-1"]);
  });

  // The one-second goal is a design bound (150 ms debounce, 500 ms max delay), measured and
  // printed here but not asserted: timings on a shared CI machine are not a test.
  it("hands over ADDED, MODIFIED and DELETED policy changes", async () => {
    const src = await start();
    await src.waitForSync(5000);

    let t0 = Date.now();
    server.apply("ciliumnetworkpolicies", cnp("p1", "shop", "80"));
    await until((s) => policyNames(s).includes("shop/p1"), 5000, "ADDED p1");
    const added = Date.now() - t0;

    t0 = Date.now();
    server.apply("ciliumnetworkpolicies", cnp("p1", "shop", "8080"));
    await until((s) => firstPort(s, "p1") === "8080", 5000, "MODIFIED p1");
    const modified = Date.now() - t0;

    t0 = Date.now();
    server.delete("ciliumnetworkpolicies", "p1", "shop");
    await until((s) => !policyNames(s).includes("shop/p1"), 5000, "DELETED p1");
    console.log(`change-to-callback latency: added ${added} ms, modified ${modified} ms, deleted ${Date.now() - t0} ms`);
  });

  it("resumes a dropped watch from its last resourceVersion and loses no event", async () => {
    server.apply("ciliumnetworkpolicies", cnp("keep", "shop", "80"));
    server.apply("ciliumnetworkpolicies", cnp("gone", "shop", "81"));
    const src = await start();
    await src.waitForSync(5000);
    const listsBefore = server.listRequests().length;

    // Changes made while the connections are stalled, then the connections are cut.
    server.freezeWatches();
    server.apply("ciliumnetworkpolicies", cnp("new", "shop", "82"));
    server.delete("ciliumnetworkpolicies", "gone", "shop");
    server.apply("ciliumnetworkpolicies", cnp("keep", "shop", "90"));
    expect(server.dropWatches()).toBeGreaterThan(0);

    const s = await until((x) => policyNames(x).join() === "shop/keep,shop/new" && firstPort(x, "keep") === "90", 5000, "resumed state");
    expect(s.synced).toBe(true);
    // Resumed by watching from the last seen resourceVersion, not by listing again.
    expect(server.listRequests().length).toBe(listsBefore);
    const resumed = server.watchRequests().filter((r) => r.path === "/apis/cilium.io/v2/ciliumnetworkpolicies");
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    expect(resumed.at(-1)?.query.resourceVersion).not.toBe("");
  });

  it("uses BOOKMARK events to move its resume point forward", async () => {
    const src = await start();
    await src.waitForSync(5000);
    // Namespace changes advance the global resourceVersion without touching pods.
    server.apply("namespaces", ns("n1"));
    server.apply("namespaces", ns("n2"));
    await until((s) => s.namespaces.length === 4);
    const watches = server.watchRequests();
    expect(watches.every((w) => w.query.allowWatchBookmarks === "true")).toBe(true);
    expect(server.bookmark()).toBeGreaterThan(0);
    const bookmarkRv = server.get("namespaces", "n2")!.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 100));
    server.dropWatches("pods");
    const deadline = Date.now() + 5000;
    while (!server.watchRequests().some((w) => w.path === "/api/v1/pods" && w.query.resourceVersion === bookmarkRv)) {
      if (Date.now() > deadline) throw new Error(`pods not re-watched from the bookmark's resourceVersion ${bookmarkRv}: ${JSON.stringify(server.watchRequests().filter((w) => w.path === "/api/v1/pods"))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it.each(["watch-event", "http"] as const)("relists after 410 Gone (%s) and ends with exactly the server's state", async (goneAs) => {
    server.goneAs = goneAs;
    server.apply("ciliumnetworkpolicies", cnp("old-a", "shop", "80"));
    server.apply("ciliumnetworkpolicies", cnp("old-b", "shop", "81"));
    const src = await start();
    await src.waitForSync(5000);
    const listsBefore = server.listRequests().filter((r) => r.path === "/apis/cilium.io/v2/ciliumnetworkpolicies").length;

    // The client falls behind, history is compacted, and the events it missed are gone for good.
    server.freezeWatches();
    server.delete("ciliumnetworkpolicies", "old-a", "shop");
    server.apply("ciliumnetworkpolicies", cnp("old-b", "shop", "91"));
    server.apply("ciliumnetworkpolicies", cnp("fresh", "shop", "92"));
    if (goneAs === "watch-event") {
      server.compact({ expireOpenWatches: true });
    } else {
      server.compact();
      server.dropWatches();
    }

    const s = await until((x) => policyNames(x).join() === "shop/fresh,shop/old-b" && firstPort(x, "old-b") === "91", 5000, "relisted state");
    expect(s.synced).toBe(true);
    const listsAfter = server.listRequests().filter((r) => r.path === "/apis/cilium.io/v2/ciliumnetworkpolicies").length;
    expect(listsAfter).toBeGreaterThan(listsBefore);
  });

  it("reports an invalid policy as a Warning Event on it, keeps its last good version, and enforces the others", async () => {
    server.apply("ciliumnetworkpolicies", cnp("other", "shop", "443"));
    const good = server.apply("ciliumnetworkpolicies", cnp("edited", "shop", "80"));
    const src = await start();
    await src.waitForSync(5000);

    const bad = server.apply("ciliumnetworkpolicies", cnp("edited", "shop", "70000"));
    server.apply("ciliumnetworkpolicies", cnp("born-bad", "shop", "99999"));
    const deadline = Date.now() + 5000;
    while (server.events().length < 2) {
      if (Date.now() > deadline) throw new Error(`expected 2 Events, got ${JSON.stringify(server.events())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = await until((x) => x.invalidPolicies.length === 2);
    // Last good version of "edited" stays, "other" is untouched, "born-bad" is not loaded.
    expect(policyNames(s)).toEqual(["shop/edited", "shop/other"]);
    expect(firstPort(s, "edited")).toBe("80");
    const inv = s.invalidPolicies.find((p) => p.ref === "shop/edited");
    expect(inv).toMatchObject({ kind: "CiliumNetworkPolicy", uid: good.metadata.uid, resourceVersion: bad.metadata.resourceVersion, lastGoodKept: true });
    expect(s.invalidPolicies.find((p) => p.ref === "shop/born-bad")?.lastGoodKept).toBe(false);

    const ev = server.events().find((e) => (e.involvedObject as { name: string }).name === "edited")!;
    expect(ev).toMatchObject({
      type: "Warning",
      reason: "InvalidPolicy",
      metadata: { namespace: "shop" },
      involvedObject: { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", name: "edited", namespace: "shop", uid: good.metadata.uid },
      source: { component: "l7proxy", host: "node-a" },
    });
    // The message names the offending field.
    expect(String(ev.message)).toMatch(/toPorts\[0\]\.ports\[0\]\.port/);
    expect(logs.some((l) => l.level === "error" && l.msg.includes("last good version stays"))).toBe(true);

    // Fixing it loads the new version and clears the report.
    server.apply("ciliumnetworkpolicies", cnp("edited", "shop", "8443"));
    const fixed = await until((x) => firstPort(x, "edited") === "8443");
    expect(fixed.invalidPolicies.map((p) => p.ref)).toEqual(["shop/born-bad"]);
  });

  it("fetches exactly the Secrets that headerMatches refer to, and follows their changes", async () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    server.apply("secrets", { metadata: { name: "api-token", namespace: "shop" }, type: "Opaque", data: { token: b64("s3cret") } });
    server.apply("secrets", { metadata: { name: "cross-ns", namespace: "vault" }, data: { v: b64("other") } });
    server.apply("secrets", { metadata: { name: "unrelated", namespace: "shop" }, data: { v: b64("do-not-read") } });
    server.apply(
      "ciliumnetworkpolicies",
      cnp("hdr", "shop", "80", {
        rules: { http: [{ method: "GET", headerMatches: [{ name: "x-token", secret: { name: "api-token" } }, { name: "x-other", secret: { namespace: "vault", name: "cross-ns" } }] }] },
      }),
    );
    const src = await start();
    await src.waitForSync(5000);
    const s = await until((x) => x.secrets.size === 2);
    expect([...s.secrets.entries()].sort()).toEqual([
      ["shop/api-token", "s3cret"],
      ["vault/cross-ns", "other"],
    ]);
    // Only the referenced Secrets were asked for, each by name; never all Secrets.
    const secretRequests = server.requests.filter((r) => r.path.includes("/secrets"));
    expect(secretRequests.every((r) => r.query.fieldSelector === "metadata.name=api-token" || r.query.fieldSelector === "metadata.name=cross-ns")).toBe(true);
    expect(secretRequests.some((r) => r.path === "/api/v1/secrets")).toBe(false);

    server.apply("secrets", { metadata: { name: "api-token", namespace: "shop" }, data: { token: b64("rotated") } });
    await until((x) => x.secrets.get("shop/api-token") === "rotated");

    // A secret with two entries cannot be a header value (as in Cilium): it is left out.
    server.apply("secrets", { metadata: { name: "cross-ns", namespace: "vault" }, data: { a: b64("1"), b: b64("2") } });
    await until((x) => !x.secrets.has("vault/cross-ns"));
  });

  it("feeds every pod into the state but marks only this node's pods as enforced", async () => {
    server.apply("pods", pod("local", "shop", "node-a", "10.0.1.1", { app: "web" }));
    server.apply("pods", pod("remote", "shop", "node-b", "10.0.2.1", { app: "client" }));
    const src = await start("node-a");
    await src.waitForSync(5000);
    const s = src.current();
    expect(s.nodeName).toBe("node-a");
    expect(s.pods.map((p) => p.metadata?.name).sort()).toEqual(["local", "remote"]);
    expect(s.pods.filter((p) => isLocalPod(p, s.nodeName)).map((p) => p.metadata?.name)).toEqual(["local"]);
    // Through the engine's inventory: both pods are identities, each tagged with its node.
    const inv = inventoryFromKubernetesObjects([...s.pods], [...s.namespaces]);
    expect(inv.endpoints.map((e) => [e.name, e.ips, e.nodeName]).sort()).toEqual([
      ["local", ["10.0.1.1"], "node-a"],
      ["remote", ["10.0.2.1"], "node-b"],
    ]);
    expect(inv.namespaces.find((n) => n.name === "shop")?.labels).toEqual({ team: "shop" });

    server.apply("pods", pod("moved-here", "shop", "node-a", "10.0.1.2"));
    server.delete("pods", "remote", "shop");
    const after = await until((x) => x.pods.length === 2 && x.pods.some((p) => p.metadata?.name === "moved-here"));
    expect(after.pods.filter((p) => isLocalPod(p, "node-a")).length).toBe(2);
  });

  it("tolerates a cluster without the cilium.io CRDs and picks policies up once they are installed", async () => {
    server.setInstalled("ciliumnetworkpolicies", false);
    server.setInstalled("ciliumclusterwidenetworkpolicies", false);
    server.apply("networkpolicies", { metadata: { name: "np", namespace: "shop" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } });
    const src = await start();
    await src.waitForSync(5000);
    expect(policyNames(src.current())).toEqual(["shop/np"]);
    expect(logs.some((l) => l.msg.includes("not installed"))).toBe(true);

    server.setInstalled("ciliumnetworkpolicies", true);
    server.setInstalled("ciliumclusterwidenetworkpolicies", true);
    server.apply("ciliumnetworkpolicies", cnp("late", "shop", "80"));
    await until((x) => policyNames(x).includes("shop/late"), 5000, "the CNP after the CRD appeared");
  });

  it("makes only requests that deploy/clusterrole.yaml allows, and uses every rule of it", async () => {
    server.apply("secrets", { metadata: { name: "tok", namespace: "shop" }, data: { v: Buffer.from("x").toString("base64") } });
    server.apply("ciliumnetworkpolicies", cnp("hdr", "shop", "80", { rules: { http: [{ headerMatches: [{ name: "x", secret: { name: "tok" } }] }] } }));
    server.apply("ciliumnetworkpolicies", cnp("bad", "shop", "70000"));
    const src = await start();
    await src.waitForSync(5000);
    const deadline = Date.now() + 5000;
    while (server.events().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const role = parse(readFileSync(path.join(repo, "deploy/clusterrole.yaml"), "utf8")) as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const granted = new Set(role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}/${v}`)))));
    const used = new Set(server.requests.map((r) => rbacAttributes(r.method, r.path, r.query)));
    expect([...used].filter((u) => !granted.has(u))).toEqual([]);
    // "get" is granted for kubectl-style reads of single objects; the informers list and watch.
    expect([...granted].filter((g) => !used.has(g) && !g.endsWith("/get"))).toEqual([]);
  });

  it("does not hold back the first sync for a Secret it may not read; the secret stays absent", async () => {
    server.failLists("secrets", 403);
    server.apply("secrets", { metadata: { name: "tok", namespace: "shop" }, data: { v: Buffer.from("x").toString("base64") } });
    server.apply("ciliumnetworkpolicies", cnp("hdr", "shop", "80", { rules: { http: [{ headerMatches: [{ name: "x", secret: { name: "tok" } }] }] } }));
    const src = await start();
    await src.waitForSync(5000);
    expect(src.current().secrets.size).toBe(0);
    expect(logs.some((l) => l.level === "warn" && l.msg.includes("cannot read (403)"))).toBe(true);
    server.failLists("secrets", undefined);
    await until((x) => x.secrets.get("shop/tok") === "x", 5000, "the secret once readable");
  });
});
