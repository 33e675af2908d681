// The admin server over real HTTP on 127.0.0.1, fed by a real Telemetry instance.

import { get, request, type IncomingMessage } from "node:http";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { startAdminServer, type AdminServer, type PolicyInfo } from "../../../src/telemetry/admin-server.js";
import type { FlowRecord } from "../../../src/telemetry/flow-record.js";
import { Telemetry } from "../../../src/telemetry/telemetry.js";
import { deathstar, exchange, l4DeniedFlow, l7Flow, query, tiefighter, xwing } from "../../unit/telemetry/flow-fixtures.js";
import { parsePromText, sampleValue } from "./prom-text.js";

let admin: AdminServer | null = null;
afterEach(async () => {
  await admin?.close();
  admin = null;
});

async function start(opts: { ready?: () => boolean; info?: PolicyInfo; maxFollowers?: number } = {}) {
  const registry = new Registry();
  const telemetry = new Telemetry({ registry, logger: null, processMetrics: true });
  admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    registry,
    flows: telemetry.flows,
    health: {
      ready: opts.ready ?? (() => true),
      policyInfo: () => opts.info ?? { revision: 3, policies: [{ ref: "default/rule1", kind: "CiliumNetworkPolicy", source: "/etc/l7proxy/rule1.yaml" }], lastError: null },
    },
    ...(opts.maxFollowers !== undefined ? { maxFollowers: opts.maxFollowers } : {}),
  });
  return { registry, telemetry, port: admin.port };
}

function fetchText(port: number, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function jsonLines(body: string): FlowRecord[] {
  return body
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as FlowRecord);
}

/** Opens a follow stream; resolves once the response head arrived. */
function follow(port: number, path: string): Promise<{ res: IncomingMessage; records: FlowRecord[]; waitFor(n: number): Promise<void> }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (res) => {
      const records: FlowRecord[] = [];
      let buf = "";
      const waiters: { n: number; resolve: () => void }[] = [];
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          records.push(JSON.parse(buf.slice(0, nl)) as FlowRecord);
          buf = buf.slice(nl + 1);
        }
        for (const w of waiters) if (records.length >= w.n) w.resolve();
      });
      resolve({
        res,
        records,
        waitFor: (n) => (records.length >= n ? Promise.resolve() : new Promise((r) => waiters.push({ n, resolve: r }))),
      });
    }).on("error", reject);
  });
}

describe("admin server", () => {
  it("/metrics serves well-formed Prometheus text with the proxy's counters", async () => {
    const { telemetry, port } = await start();
    for (let i = 0; i < 4; i++) telemetry.l7Request(exchange());
    telemetry.l7Request(exchange({ allowed: false }));
    telemetry.connectionOpened();
    const res = await fetchText(port, "/metrics");
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const expo = parsePromText(res.body);
    expect(sampleValue(expo, "envoy_http_rq_total", { envoy_http_conn_manager_prefix: "proxy" })).toBe(5);
    expect(sampleValue(expo, "l7proxy_denied_requests_total", { policy: "default-deny", source_workload: "tiefighter" })).toBe(1);
    expect(sampleValue(expo, "hubble_http_request_duration_seconds_count", { phase: "proxy" })).toBe(5);
    expect(sampleValue(expo, "l7proxy_connections_active")).toBe(1);
    expect(expo.types.get("hubble_http_request_duration_seconds")).toBe("histogram");
    expect(expo.types.get("process_cpu_user_seconds_total")).toBe("counter");
  });

  it("/healthz is 200, /readyz follows readiness", async () => {
    let ready = false;
    const { port } = await start({ ready: () => ready });
    expect((await fetchText(port, "/healthz")).status).toBe(200);
    expect((await fetchText(port, "/readyz")).status).toBe(503);
    ready = true;
    expect((await fetchText(port, "/readyz")).status).toBe(200);
  });

  it("/policy shows the revision, the loaded policies and the last load error", async () => {
    const info: PolicyInfo = {
      revision: 7,
      policies: [{ ref: "default/rule1", kind: "CiliumNetworkPolicy", source: "rule1.yaml" }],
      lastError: "rule2.yaml: L7P_ERR_POLICY_REGEX: invalid regex",
    };
    const { port } = await start({ info });
    const res = await fetchText(port, "/policy");
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual(info);
  });

  it("/flows returns recent records as JSON lines, filtered", async () => {
    const { telemetry, port } = await start();
    telemetry.l7Request(exchange());
    telemetry.l7Request(exchange({ allowed: false }));
    const denied = l4DeniedFlow(xwing, deathstar);
    telemetry.l4Verdict(denied, query(denied));
    telemetry.l7Request(exchange({ flow: l7Flow(tiefighter, xwing) }));

    const all = await fetchText(port, "/flows");
    expect(all.status).toBe(200);
    expect(all.type).toBe("application/x-ndjson");
    expect(jsonLines(all.body)).toHaveLength(4);

    expect(jsonLines((await fetchText(port, "/flows?verdict=DROPPED")).body).map((r) => r.type)).toEqual(["L7", "L3_L4"]);
    expect(jsonLines((await fetchText(port, "/flows?namespace=rebels")).body)).toHaveLength(2);
    expect(jsonLines((await fetchText(port, "/flows?pod=deathstar-1&protocol=http")).body)).toHaveLength(2);
    expect(jsonLines((await fetchText(port, "/flows?workload=xwing&verdict=FORWARDED")).body)).toHaveLength(1);
    expect(jsonLines((await fetchText(port, "/flows?policy=default%2Frule1")).body)).toHaveLength(2);
    const last = jsonLines((await fetchText(port, "/flows?last=1")).body);
    expect(last.map((r) => r.destination.namespace)).toEqual(["rebels"]);
  });

  it("/flows rejects bad parameters with 400", async () => {
    const { port } = await start();
    for (const q of ["verdict=DENIED", "last=-1", "last=abc", "colour=red", "follow=maybe"]) {
      const res = await fetchText(port, `/flows?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body).toMatch(/^bad request: /);
    }
  });

  it("/flows?follow=1 streams new matching records", async () => {
    const { telemetry, port } = await start();
    telemetry.l7Request(exchange({ url: "/before" }));
    const stream = await follow(port, "/flows?follow=1&verdict=DROPPED");
    telemetry.l7Request(exchange({ url: "/forwarded-not-shown" }));
    telemetry.l7Request(exchange({ allowed: false, url: "/first" }));
    telemetry.l7Request(exchange({ allowed: false, url: "/second" }));
    await stream.waitFor(2);
    expect(stream.records.map((r) => r.http?.url)).toEqual(["/first", "/second"]);
    stream.res.destroy();
  });

  it("/flows?follow=1&last=N sends history first", async () => {
    const { telemetry, port } = await start();
    telemetry.l7Request(exchange({ url: "/a" }));
    telemetry.l7Request(exchange({ url: "/b" }));
    const stream = await follow(port, "/flows?follow=1&last=1");
    await stream.waitFor(1);
    telemetry.l7Request(exchange({ url: "/c" }));
    await stream.waitFor(2);
    expect(stream.records.map((r) => r.http?.url)).toEqual(["/b", "/c"]);
    stream.res.destroy();
  });

  it("stops feeding a follower that disconnected", async () => {
    const { telemetry, port } = await start();
    const stream = await follow(port, "/flows?follow=1");
    expect(telemetry.flows.followers).toBe(1);
    const closed = new Promise((r) => stream.res.once("close", r));
    stream.res.destroy();
    await closed;
    // The server notices the close on its side asynchronously.
    for (let i = 0; i < 100 && telemetry.flows.followers > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(telemetry.flows.followers).toBe(0);
  });

  it("limits concurrent followers", async () => {
    const { port } = await start({ maxFollowers: 1 });
    const first = await follow(port, "/flows?follow=1");
    expect((await fetchText(port, "/flows?follow=1")).status).toBe(503);
    first.res.destroy();
  });

  it("close() ends open follow streams", async () => {
    const { port } = await start();
    const stream = await follow(port, "/flows?follow=1");
    const ended = new Promise((r) => stream.res.once("close", r));
    await admin!.close();
    admin = null;
    await ended;
  });

  it("answers unknown paths with 404 and other methods with 405", async () => {
    const { port } = await start();
    expect((await fetchText(port, "/nope")).status).toBe(404);
    expect((await fetchText(port, "/metrics", "POST")).status).toBe(405);
  });
});
