// The Star Wars story end to end: real pods in network namespaces, real TPROXY interception
// on the node, both deathstar replicas behind a DNATed Service VIP, policies applied live.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { StarWarsCluster } from "../../src/demo/starwars-cluster.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("Star Wars e2e");

describe.runIf(canRun)("Star Wars story through l7proxy", () => {
  const cluster = new StarWarsCluster(`sw${process.pid % 100000}`);
  beforeAll(async () => cluster.start(), 60_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("without a policy both ships land, on both replicas", async () => {
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const t = await cluster.shoot("tiefighter", "POST", "/v1/request-landing");
      expect(t.body).toBe("Ship landed\n");
      served.add(t.servedBy);
    }
    expect(served).toEqual(new Set(["deathstar-1", "deathstar-2"]));
    expect((await cluster.shoot("xwing", "POST", "/v1/request-landing")).body).toBe("Ship landed\n");
  });

  test("L3/L4 policy keeps the xwing out and lets the tiefighter land", async () => {
    await cluster.applyPolicy("l4-policy.yaml");
    expect((await cluster.shoot("tiefighter", "POST", "/v1/request-landing")).body).toBe("Ship landed\n");
    const x = await cluster.shoot("xwing", "POST", "/v1/request-landing");
    expect(x.curlExit).not.toBe(0);
    expect(x.status).toBe(0);
    // L3/L4 only: the tiefighter may still reach the exhaust port.
    expect((await cluster.shoot("tiefighter", "PUT", "/v1/exhaust-port")).status).toBe(503);
  });

  test("L7 policy: POST /v1/request-landing only; PUT /v1/exhaust-port gets Access denied", async () => {
    await cluster.applyPolicy("l7-policy.yaml");
    for (let i = 0; i < 2; i++) {
      const land = await cluster.shoot("tiefighter", "POST", "/v1/request-landing");
      expect(land.status).toBe(200);
      expect(land.body).toBe("Ship landed\n");
      // Through the proxy (on either node), the deathstar still sees the tiefighter itself.
      expect(land.clientAddress).toBe(cluster.topo.pod("tiefighter").ip);
    }
    const port = await cluster.shoot("tiefighter", "PUT", "/v1/exhaust-port");
    expect(port.status).toBe(403);
    expect(port.body).toBe("Access denied\r\n");
    expect((await cluster.shoot("xwing", "POST", "/v1/request-landing")).curlExit).not.toBe(0);
  });

  test("the pod IP is enforced exactly like the Service VIP", async () => {
    const d1 = cluster.topo.pod("deathstar-1").ip;
    expect((await cluster.shoot("tiefighter", "PUT", "/v1/exhaust-port", d1)).status).toBe(403);
    expect((await cluster.shoot("tiefighter", "POST", "/v1/request-landing", d1)).body).toBe("Ship landed\n");
    expect((await cluster.shoot("xwing", "POST", "/v1/request-landing", d1)).curlExit).not.toBe(0);
  });

  test("removing the policy lets every ship land again", async () => {
    await cluster.applyPolicy(null);
    expect((await cluster.shoot("xwing", "POST", "/v1/request-landing")).body).toBe("Ship landed\n");
    expect((await cluster.shoot("tiefighter", "PUT", "/v1/exhaust-port")).status).toBe(503);
  });
});
