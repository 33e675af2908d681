// SPIKE, not shipped (issue 15 §3): the JavaScript half of the C relay core
// (relay-core.c). The C thread moves the bytes; this process parses every request head with
// the proxy's own parser and decides it with the proxy's own compiled policy, a batch of heads
// per call in each direction.
//
//   node dist-bench/bench/native-spike/spike-proxy.js --listen 127.0.0.1:15021 \
//     --upstream 127.0.0.2:80 --policies DIR --endpoints FILE --client-ip 127.0.0.1 [--no-decide]
//
// With --upstream the connections go to that address (plain mode, as `l7proxy run --upstream`);
// without it the listener is transparent and each connection goes to its original destination.

import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { parseRequestHead } from "../../src/datapath/http1/request-head.js";
import { loadEndpointsFile } from "../../src/policy/endpoints/load-endpoints.js";
import { compilePolicies } from "../../src/policy/compile/index.js";
import { loadPolicyPaths } from "../../src/policy/load/index.js";
import type { FlowQuery, FlowVerdict } from "../../src/policy/decision.js";

interface RelayCore {
  start(o: { host: string; port: number; upstreamHost?: string; upstreamPort?: number; transparent: boolean; decide: boolean }, onHeads: () => void): void;
  takeHeads(): Buffer;
  verdicts(v: Uint32Array): void;
  stats(): { heads: number; batches: number; verdictCalls: number; accepts: number };
}

const { values } = parseArgs({
  options: {
    listen: { type: "string" },
    upstream: { type: "string" },
    policies: { type: "string" },
    endpoints: { type: "string" },
    "client-ip": { type: "string" },
    "no-decide": { type: "boolean" },
  },
});
const split = (hp: string): [string, number] => {
  const i = hp.lastIndexOf(":");
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
};
const [host, port] = split(values.listen ?? "127.0.0.1:15021");
const upstream = values.upstream === undefined ? null : split(values.upstream);

const core = createRequire(import.meta.url)(new URL("../../../bench/native-spike/build/Release/relay_spike.node", import.meta.url).pathname) as RelayCore;

const loaded = await loadPolicyPaths([values.policies ?? "."]);
const inventory = await loadEndpointsFile(values.endpoints ?? "endpoints.yaml");
const { snapshot } = compilePolicies(loaded.policies, inventory, { revision: 1 });

// The spike does not learn each connection's addresses from C; every connection is the
// benchmark client's, to the upstream's port: one flow verdict serves them all (the real
// proxy decides it once per connection too, which is not the per-request cost measured).
const q: FlowQuery = {
  srcIp: values["client-ip"] ?? "127.0.0.1",
  srcPort: 40000,
  dstIp: upstream?.[0] ?? "127.0.0.2",
  dstPort: upstream?.[1] ?? 80,
  protocol: "TCP",
};
const flow: FlowVerdict = snapshot.decideFlow(q);
if (!flow.allowed) throw new Error(`the benchmark flow is denied at L3/L4: ${JSON.stringify(q)}`);

let out = new Uint32Array(3 * 256);
const limits = { maxHeaders: 100 };

function onHeads(): void {
  const batch = core.takeHeads();
  let n = 0;
  for (let off = 0; off + 12 <= batch.length; ) {
    const fd = batch.readUInt32LE(off);
    const gen = batch.readUInt32LE(off + 4);
    const len = batch.readUInt32LE(off + 8);
    const start = off + 12;
    off = start + len;
    const head = parseRequestHead(batch, start, start + len, limits);
    const allow = "code" in head ? 0 : snapshot.decideHttp(flow, q, head).allowed ? 1 : 0;
    if (3 * (n + 1) > out.length) {
      const bigger = new Uint32Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    out[3 * n] = fd;
    out[3 * n + 1] = gen;
    out[3 * n + 2] = allow;
    n++;
  }
  if (n > 0) core.verdicts(out.subarray(0, 3 * n));
}

core.start(
  {
    host,
    port,
    ...(upstream !== null ? { upstreamHost: upstream[0], upstreamPort: upstream[1] } : {}),
    transparent: upstream === null,
    decide: values["no-decide"] !== true,
  },
  onHeads,
);
process.stdout.write(`relay spike listening on ${host}:${port}\n`);
process.on("SIGTERM", () => {
  const s = core.stats();
  process.stdout.write(`${JSON.stringify({ ...s, headsPerBatch: s.batches > 0 ? s.heads / s.batches : 0 })}\n`);
  process.exit(0);
});
// The C thread keeps no handle on the event loop.
setInterval(() => {}, 1 << 30);
