// `l7proxy observe` against a real admin server on 127.0.0.1, fed by a real Telemetry.

import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { runObserve } from "../../../src/cli/observe.js";
import { startAdminServer, type AdminServer } from "../../../src/telemetry/admin-server.js";
import type { FlowRecord } from "../../../src/telemetry/flow-record.js";
import { Telemetry } from "../../../src/telemetry/telemetry.js";
import { deathstar, exchange, l4DeniedFlow, l7Flow, l7Verdict, query, RULE1, tiefighter, world, xwing } from "../../unit/telemetry/flow-fixtures.js";

let admin: AdminServer | null = null;
afterEach(async () => {
  await admin?.close();
  admin = null;
});

class Capture extends Writable {
  text = "";
  isTTY: boolean;
  private waiters: { n: number; resolve: () => void }[] = [];
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString("utf8");
    for (const w of this.waiters) if (this.lines().length >= w.n) w.resolve();
    cb();
  }
  lines(): string[] {
    return this.text.split("\n").filter((l) => l !== "");
  }
  waitForLines(n: number): Promise<void> {
    return this.lines().length >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

async function proxyWithFlows() {
  const telemetry = new Telemetry({ registry: new Registry(), logger: null, processMetrics: false });
  admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    registry: new Registry(),
    flows: telemetry.flows,
    health: { ready: () => true, policyInfo: () => ({ revision: 1, policies: [], lastError: null }) },
  });
  telemetry.l7Request(exchange()); // FORWARDED POST /v1/request-landing
  // Denied because rule1's L7 rules do not match, the way the engine attributes it.
  telemetry.l7Request(exchange({ allowed: false, verdict: l7Verdict(false, RULE1) }));
  const denied = l4DeniedFlow(xwing, deathstar);
  telemetry.l4Verdict(denied, query(denied));
  telemetry.l7Request(exchange({ flow: l7Flow(world, deathstar), allowed: false, url: "/from-outside" }));
  return { telemetry, addr: `127.0.0.1:${admin.port}` };
}

async function observe(args: string[], tty = false) {
  const out = new Capture(tty);
  const err = new Capture();
  const code = await runObserve(args, { stdout: out, stderr: err });
  return { code, out: out.lines(), err: err.text, raw: out.text };
}

describe("l7proxy observe", () => {
  it("prints one readable line per flow, naming the deciding policy", async () => {
    const { addr } = await proxyWithFlows();
    const r = await observe(["--admin", addr]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      "FORWARDED  default/tiefighter -> default/deathstar-1:80  http POST /v1/request-landing 200  policy default/rule1",
      "DROPPED  default/tiefighter -> default/deathstar-1:80  http PUT /v1/exhaust-port 403  policy default/rule1",
      "DROPPED  rebels/xwing-7d9f -> default/deathstar-1:80  tcp  policy default-deny",
      "DROPPED  203.0.113.9 (world) -> default/deathstar-1:80  http PUT /from-outside 403  policy default-deny",
    ]);
  });

  it("uses no colour when stdout is not a terminal, and colour when it is", async () => {
    const { addr } = await proxyWithFlows();
    const plain = await observe(["--admin", addr]);
    expect(plain.raw).not.toContain("\x1b[");
    const tty = await observe(["--admin", addr], true);
    expect(tty.raw).toContain("\x1b[31mDROPPED\x1b[0m");
    expect(tty.raw).toContain("\x1b[32mFORWARDED\x1b[0m");
    const forcedPlain = await observe(["--admin", addr, "--no-color"], true);
    expect(forcedPlain.raw).not.toContain("\x1b[");
  });

  it("filters by verdict, namespace, pod, protocol, workload and policy", async () => {
    const { addr } = await proxyWithFlows();
    expect((await observe(["--admin", addr, "--verdict", "FORWARDED"])).out).toHaveLength(1);
    expect((await observe(["--admin", addr, "--verdict", "dropped"])).out).toHaveLength(3);
    expect((await observe(["--admin", addr, "--namespace", "rebels"])).out).toEqual([
      "DROPPED  rebels/xwing-7d9f -> default/deathstar-1:80  tcp  policy default-deny",
    ]);
    expect((await observe(["--admin", addr, "--pod", "tiefighter"])).out).toHaveLength(2);
    expect((await observe(["--admin", addr, "--protocol", "http", "--verdict", "DROPPED"])).out).toHaveLength(2);
    expect((await observe(["--admin", addr, "--workload", "world"])).out).toHaveLength(1);
    expect((await observe(["--admin", addr, "--policy", "default-deny"])).out).toHaveLength(2);
    expect((await observe(["--admin", addr, "--last", "1"])).out[0]).toContain("/from-outside");
  });

  it("prints the records as JSON lines with --json", async () => {
    const { addr } = await proxyWithFlows();
    const r = await observe(["--admin", `http://${addr}`, "--json", "--verdict", "DROPPED"]);
    const records = r.out.map((l) => JSON.parse(l) as FlowRecord);
    expect(records.map((x) => x.type)).toEqual(["L7", "L3_L4", "L7"]);
    expect(records[1]!.policy.ref).toBe("default-deny");
    expect(r.raw).not.toContain("\x1b[");
  });

  it("follows new flows until stopped", async () => {
    const { telemetry, addr } = await proxyWithFlows();
    const out = new Capture();
    const stop = new AbortController();
    const running = runObserve(["--admin", addr, "--follow", "--verdict", "DROPPED"], { stdout: out, stderr: new Capture(), signal: stop.signal });
    // The stream is open once the server has a follower.
    for (let i = 0; i < 200 && telemetry.flows.followers === 0; i++) await new Promise((r) => setTimeout(r, 5));
    telemetry.l7Request(exchange({ url: "/not-shown" }));
    telemetry.l7Request(exchange({ allowed: false, flow: l7Flow(tiefighter, deathstar), url: "/v1/exhaust-port?again" }));
    await out.waitForLines(1);
    stop.abort();
    expect(await running).toBe(0);
    expect(out.lines()).toEqual(["DROPPED  default/tiefighter -> default/deathstar-1:80  http PUT /v1/exhaust-port?again 403  policy default-deny"]);
  });

  it("reports usage errors with exit code 2", async () => {
    for (const args of [["--verdict", "DENIED"], ["--last", "x"], ["--bogus"], ["--admin", "nohost"]]) {
      const r = await observe(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(/^l7proxy observe: /);
    }
  });

  it("prints --help", async () => {
    const r = await observe(["--help"]);
    expect(r.code).toBe(0);
    expect(r.raw).toContain("Usage: l7proxy observe");
  });

  it("explains when the admin server cannot be reached", async () => {
    // Bind and close a server to get a port nothing listens on.
    const probe = await startAdminServer({
      host: "127.0.0.1",
      port: 0,
      registry: new Registry(),
      flows: new Telemetry({ registry: new Registry(), logger: null, processMetrics: false }).flows,
      health: { ready: () => true, policyInfo: () => ({ revision: 0, policies: [], lastError: null }) },
    });
    const port = probe.port;
    await probe.close();
    const r = await observe(["--admin", `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot reach the admin server");
    expect(r.err).toContain("ECONNREFUSED");
  });
});
