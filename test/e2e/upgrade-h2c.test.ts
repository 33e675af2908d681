// An allowed HTTP/1.1 request with `Upgrade: h2c` must not open a tunnel past L7 policy.
// With the Star Wars policy (only POST /v1/request-landing), a tiefighter asks for an h2c
// upgrade on an allowed request, then sends the denied PUT /v1/exhaust-port as HTTP/2 on
// the same connection. The deathstar really honours h2c (101, then HTTP/2 through Node's
// performServerHandshake): the proxy must forward the request as plain HTTP/1.1, without the
// upgrade, so no HTTP/2 ever reaches it; and a 101 the upstream sends anyway is answered 502.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { rawExchange } from "../support/raw-http.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("h2c upgrade e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: default}
spec:
  endpointSelector: {matchLabels: {org: empire, class: deathstar}}
  ingress:
    - fromEndpoints: [{matchLabels: {org: empire}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http: [{method: POST, path: /v1/request-landing}]
`;

/** An HTTP/2 frame. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
function hpack(headers: [string, string][]): Buffer {
  return Buffer.concat(
    headers.map(([n, v]) => Buffer.concat([Buffer.from([0x00, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)])),
  );
}

/** What a client sends once it believes the connection is HTTP/2: preface, SETTINGS, the denied request. */
const H2_EXHAUST_PORT = Buffer.concat([
  Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  frame(0x4, 0, 0, Buffer.alloc(0)),
  frame(0x1, 0x5, 3, hpack([[":method", "PUT"], [":scheme", "http"], [":path", "/v1/exhaust-port"], [":authority", "deathstar"]])),
]);

const UPGRADE_LANDING =
  "POST /v1/request-landing HTTP/1.1\r\nHost: deathstar\r\nContent-Length: 0\r\n" +
  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";

interface Served {
  proto: "h1" | "h2";
  method: string;
  path: string;
  upgrade?: string | null;
  http2Settings?: string | null;
  connection?: string | null;
}

describe.runIf(canRun)("Upgrade: h2c never tunnels past L7 policy", () => {
  let logDir = "";
  const cluster = new NetnsCluster(`h2c${process.pid % 100000}`, {
    endpointsFile: join(FIX, "h2c-endpoints.yaml"),
    adminPort: 9911,
    servers: [],
  });
  const served = async (name: string): Promise<Served[]> => {
    const text = await readFile(join(logDir, `${name}.log`), "utf8").catch(() => "");
    return text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Served);
  };

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), "l7proxy-h2c-"));
    const upstream = "../test/fixtures/e2e/h2c-upstream.mjs";
    cluster.opts.servers.push(
      { pod: "deathstar", script: upstream, args: ["80", join(logDir, "deathstar.log"), "honour"] },
      { pod: "deathstar-broken", script: upstream, args: ["80", join(logDir, "deathstar-broken.log"), "always-101"] },
    );
    await cluster.start();
    await cluster.applyPolicies([{ name: "rule1.yaml", text: POLICY }]);
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await rm(logDir, { recursive: true, force: true });
  }, 60_000);

  test("the upstream can really be upgraded (without the proxy in the way, h2c reaches it)", async () => {
    // The same bytes straight from the deathstar's own namespace, where nothing intercepts:
    // the PUT is served over HTTP/2. This is what the proxy must prevent.
    const r = await rawExchange(cluster.topo.pod("deathstar").netns, "127.0.0.1", 80, [UPGRADE_LANDING, H2_EXHAUST_PORT], { gapMs: 300, waitMs: 1500 });
    expect(r.response).toMatch(/^HTTP\/1\.1 101 /);
    const log = await served("deathstar");
    expect(log).toContainEqual(expect.objectContaining({ proto: "h2", method: "PUT", path: "/v1/exhaust-port" }));
    await rm(join(logDir, "deathstar.log"), { force: true });
  });

  test("an allowed request asking for h2c goes upstream as plain HTTP/1.1; the denied HTTP/2 request never arrives", async () => {
    const r = await rawExchange(cluster.topo.pod("tiefighter").netns, "10.207.0.20", 80, [UPGRADE_LANDING, H2_EXHAUST_PORT], { gapMs: 500, waitMs: 3000 });
    // The landing is answered over HTTP/1.1, not switched.
    expect(r.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.response).toContain("served POST /v1/request-landing over HTTP/1.1");
    expect(r.response).not.toMatch(/HTTP\/1\.1 101/);
    const log = await served("deathstar");
    expect(log).toEqual([{ proto: "h1", method: "POST", path: "/v1/request-landing", upgrade: null, http2Settings: null, connection: null }]);
    // The HTTP/2 bytes that followed were read as HTTP/1 and refused, never forwarded.
    expect(log.some((e) => e.path === "/v1/exhaust-port")).toBe(false);
  });

  test("Upgrade tokens other than websocket are stripped in any case and in a list; other Connection tokens stay", async () => {
    await rm(join(logDir, "deathstar.log"), { force: true });
    const req =
      "POST /v1/request-landing HTTP/1.1\r\nHost: deathstar\r\nContent-Length: 0\r\n" +
      "Connection: keep-alive, UPGRADE\r\nUpgrade: H2C, websocket\r\n\r\n";
    const r = await rawExchange(cluster.topo.pod("tiefighter").netns, "10.207.0.20", 80, req, { waitMs: 1500 });
    expect(r.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(await served("deathstar")).toEqual([
      { proto: "h1", method: "POST", path: "/v1/request-landing", upgrade: null, http2Settings: null, connection: "keep-alive" },
    ]);
  });

  test("a 101 to a request that was not forwarded as a WebSocket upgrade is answered 502 and the connection closes", async () => {
    const r = await rawExchange(
      cluster.topo.pod("tiefighter").netns,
      "10.207.0.21",
      80,
      [UPGRADE_LANDING, H2_EXHAUST_PORT],
      { gapMs: 500, waitMs: 3000 },
    );
    expect(r.response).toMatch(/^HTTP\/1\.1 502 /);
    expect(r.response).not.toMatch(/101 Switching/);
    expect(r.end).toBe("closed");
    const log = await served("deathstar-broken");
    expect(log.map((e) => `${e.proto} ${e.method} ${e.path}`)).toEqual(["h1 POST /v1/request-landing"]);
    const metrics = (await cluster.admin("/metrics")).body;
    expect(metrics).toMatch(/l7proxy_connection_errors_total\{code="L7P_ERR_HTTP_RESPONSE"\} [1-9]/);
  });
});
