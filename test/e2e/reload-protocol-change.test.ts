// A reload that changes what a port speaks must reach the keep-alive connections already
// open on it. The connection's parser is HTTP; when the new policy gives the port Kafka or DNS
// rules, or denies the client, the next HTTP request on the open connection is decided on
// the new policy, denied, and never reaches the upstream (it used to be forwarded unchecked).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { rawExchange } from "../support/raw-http.js";
import { requireRootOrSkip } from "../support/root.js";
import { upstreamGetPolicy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("reload protocol-change e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const H = "Host: upstream\r\n";

function portRules(rules: string): { name: string; text: string } {
  return {
    name: "policy.yaml",
    text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: changed, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: upstream}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
${rules}
`,
  };
}

/** DNS rules exist on egress only: the client's egress to the port gets them, the upstream's ingress keeps HTTP. */
const EGRESS_DNS = {
  name: "client-egress.yaml",
  text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-dns, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
    - toEndpoints: [{matchLabels: {app: upstream}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules: {dns: [{matchPattern: "*"}]}
`,
};

const CHANGES: [string, { name: string; text: string }[]][] = [
  ["Kafka rules", [portRules("          rules: {kafka: [{role: consume, topic: announcements}]}")]],
  ["DNS rules on the client's egress (HTTP rules stay on ingress)", [upstreamGetPolicy("before", ["/first", "/second"]), EGRESS_DNS]],
  [
    "a deny rule instead of its L7 rules",
    [{
      name: "policy.yaml",
      text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: changed, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: upstream}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`,
    }],
  ],
];

describe.runIf(canRun)("a reload that changes a port's protocol reaches open connections", () => {
  let dir = "";
  const cluster = new NetnsCluster(`rp${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9912,
    servers: [],
  });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "l7proxy-rp-"));
    cluster.opts.servers.push({ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream", join(dir, "received")] });
    await cluster.start();
    await cluster.applyPolicies([upstreamGetPolicy("before", ["/first", "/second"])]);
    // The first policy also installs the interception rules for the upstream: wait until they
    // are in force (an enforced request answers) before the tests rely on them.
    for (let i = 0; i < 50; i++) {
      if ((await cluster.curl("client", ["http://10.203.0.20/first"])).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test.each(CHANGES)("the port gets %s: the next request on the open connection is denied, not forwarded", async (_what, next) => {
    await cluster.applyPolicies([upstreamGetPolicy("before", ["/first", "/second"])]);
    await rm(join(dir, "received"), { force: true });
    const exchange = rawExchange(
      cluster.topo.pod("client").netns,
      "10.203.0.20",
      80,
      [`GET /first HTTP/1.1\r\n${H}\r\n`, `GET /second HTTP/1.1\r\n${H}\r\n`],
      { gapMs: 2500, waitMs: 5000 },
    );
    await new Promise((r) => setTimeout(r, 500));
    const before = await cluster.revision();
    await cluster.applyPolicies(next);
    expect(await cluster.revision()).toBeGreaterThan(before);
    const r = await exchange;
    const statuses = [...r.response.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses, `${r.end}: ${r.response}`).toEqual(["200", "403"]);
    expect(r.response).toContain("Access denied\r\n");
    const received = await readFile(join(dir, "received"), "latin1");
    expect(received).toContain("GET /first ");
    expect(received).not.toContain("/second");
  });
});
