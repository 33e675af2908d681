// A reload that changes what a port speaks must reach the keep-alive connections already
// open on it. The connection's parser is HTTP; when the new policy gives the port Kafka or DNS
// rules, or denies the client, the next HTTP request on the open connection is decided on
// the new policy, denied, and never reaches the upstream (it used to be forwarded unchecked).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { upstreamGetPolicy } from "../support/upstream-policy.js";

const canRun = requireRootOrSkip("reload protocol-change e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const H = "Host: upstream\r\n";

/**
 * One keep-alive connection from the client pod, driven step by step: `send` writes a request
 * and resolves with the bytes answered to it (or what came before the connection ended).
 */
function keepAliveClient(netns: string, host: string, port: number) {
  const script = `
const s = require("node:net").connect(${port}, "${host}");
let out = "";
s.on("connect", () => process.stdout.write("connected\\n"));
s.on("data", (d) => { out += d.toString("latin1"); if (/\\r\\n\\r\\n[\\s\\S]*\\n$/.test(out)) { process.stdout.write(JSON.stringify(out) + "\\n"); out = ""; } });
s.on("close", () => { process.stdout.write(JSON.stringify(out) + "\\nclosed\\n"); process.exit(0); });
s.on("error", () => {});
process.stdin.on("data", (d) => s.write(Buffer.from(d.toString().trim(), "base64")));`;
  const child = spawnIn(netns, process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "pipe"] });
  let buffered = "";
  const waiters: ((line: string) => void)[] = [];
  const lines: string[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiters.shift();
      if (w !== undefined) w(line);
      else lines.push(line);
    }
  });
  const next = (): Promise<string> => new Promise((r) => (lines.length > 0 ? r(lines.shift()!) : waiters.push(r)));
  return {
    connected: next,
    async send(request: string): Promise<string> {
      child.stdin!.write(`${Buffer.from(request).toString("base64")}\n`);
      return JSON.parse(await next()) as string;
    },
    close: () => child.kill(),
  };
}

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
    const client = keepAliveClient(cluster.topo.pod("client").netns, "10.203.0.20", 80);
    try {
      expect(await client.connected()).toBe("connected");
      expect(await client.send(`GET /first HTTP/1.1\r\n${H}\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
      const before = await cluster.revision();
      await cluster.applyPolicies(next);
      expect(await cluster.revision()).toBeGreaterThan(before);
      // The same connection, after the reload.
      const second = await client.send(`GET /second HTTP/1.1\r\n${H}\r\n`);
      expect(second).toMatch(/^HTTP\/1\.1 403 /);
      expect(second).toContain("Access denied\r\n");
    } finally {
      client.close();
    }
    const received = await readFile(join(dir, "received"), "latin1");
    expect(received).toContain("GET /first ");
    expect(received).not.toContain("/second");
  });
});
