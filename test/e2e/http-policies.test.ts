// HTTP policies enforced on real traffic: the retail app, Cilium's X-My-Header example, and
// an egress policy enforced at the source. Every request crosses the node namespace, where
// TPROXY hands it to l7proxy.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("HTTP policy e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");

describe.runIf(canRun)("HTTP policies on real traffic", () => {
  const cluster = new NetnsCluster(`hp${process.pid % 100000}`, {
    endpointsFile: join(FIX, "shop-endpoints.yaml"),
    adminPort: 9902,
    servers: [
      { pod: "inventory-api", script: "demo/echo-server.js", args: ["8080", "inventory-api"] },
      { pod: "payment-gateway", script: "demo/echo-server.js", args: ["8080", "payment-gateway"] },
      { pod: "my-service", script: "demo/echo-server.js", args: ["80", "my-service"] },
      { pod: "public-api", script: "demo/echo-server.js", args: ["80", "public-api"] },
    ],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([
      join(FIX, "retail-policy.yaml"),
      join(FIX, "my-service-policy.yaml"),
      join(FIX, "egress-policy.yaml"),
    ]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  const inventory = "http://10.202.0.20:8080";
  const payment = "http://10.202.0.30:8080";

  test("retail: frontend-app may only GET /api/inventory/.* on inventory-api", async () => {
    const ok = await cluster.curl("frontend-app", [`${inventory}/api/inventory/42?fields=stock`]);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe("inventory-api GET /api/inventory/42?fields=stock 0\n");
    for (const [method, path] of [
      ["POST", "/api/inventory/42"],
      ["DELETE", "/api/inventory/42"],
      ["GET", "/api/orders"],
      ["GET", "/api/inventory"], // the regex needs the trailing slash: full match, as in Envoy
    ] as const) {
      const r = await cluster.curl("frontend-app", ["-X", method, `${inventory}${path}`]);
      expect({ method, path, status: r.status, body: r.body }).toEqual({ method, path, status: 403, body: "Access denied\r\n" });
    }
  });

  test("retail: frontend-app may only POST /process-payment on payment-gateway", async () => {
    const ok = await cluster.curl("frontend-app", ["-X", "POST", "--data", "amount=10", `${payment}/process-payment`]);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe("payment-gateway POST /process-payment 9\n");
    expect((await cluster.curl("frontend-app", [`${payment}/process-payment`])).status).toBe(403);
    expect((await cluster.curl("frontend-app", ["-X", "POST", `${payment}/refund`])).status).toBe(403);
  });

  test("retail: other pods are refused at L3/L4", async () => {
    const r = await cluster.curl("intruder", [`${inventory}/api/inventory/42`]);
    expect(r.status).toBe(0);
    expect(r.code).not.toBe(0);
  });

  test("X-My-Header: POST .*/path3 needs the header with the exact value", async () => {
    const url = "http://10.202.0.50";
    expect((await cluster.curl("caller", [`${url}/v1/path1`])).status).toBe(200);
    expect((await cluster.curl("caller", [`${url}/v1/path1/more`])).status).toBe(403);
    expect((await cluster.curl("caller", ["-X", "PUT", `${url}/v2/path2/anything`])).status).toBe(200);
    expect((await cluster.curl("caller", ["-X", "POST", "-H", "X-My-Header: true", `${url}/some/path3`])).status).toBe(200);
    expect((await cluster.curl("caller", ["-X", "POST", "-H", "x-my-header: true", `${url}/path3`])).status).toBe(200);
    expect((await cluster.curl("caller", ["-X", "POST", `${url}/some/path3`])).status).toBe(403);
    expect((await cluster.curl("caller", ["-X", "POST", "-H", "X-My-Header: false", `${url}/some/path3`])).status).toBe(403);
  });

  test("egress is enforced at the source", async () => {
    const api = "http://10.202.0.70";
    const ok = await cluster.curl("batch-job", [`${api}/healthz`]);
    expect(ok.body).toBe("public-api GET /healthz 0\n");
    expect((await cluster.curl("batch-job", ["-X", "POST", `${api}/healthz`])).status).toBe(403);
    // Not in its egress policy at all: refused at L3/L4.
    expect((await cluster.curl("batch-job", ["http://10.202.0.50/v1/path1"])).status).toBe(0);
    // public-api's own ingress is not enforced: other pods reach it freely.
    expect((await cluster.curl("caller", ["-X", "POST", `${api}/anything`])).status).toBe(200);
  });

  test("keep-alive: a denied request leaves the connection usable", async () => {
    // One curl invocation, three requests on one connection: allowed, denied, allowed.
    const r = await cluster.curl("frontend-app", [
      `${inventory}/api/inventory/1`,
      "-X", "GET", `${inventory}/api/orders`,
      `${inventory}/api/inventory/2`,
    ]);
    expect(r.stdout).toContain("inventory-api GET /api/inventory/1 0\n");
    expect(r.stdout).toContain("Access denied\r\n");
    expect(r.stdout).toContain("inventory-api GET /api/inventory/2 0\n");
  });
});
