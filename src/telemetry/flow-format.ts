// One readable line per flow record, as `l7proxy observe` prints it:
//   DROPPED  default/tiefighter -> default/deathstar-1:80  http PUT /v1/exhaust-port 403  policy default/rule1
// Peers that are not pods show their IP and reserved identity instead of namespace/pod.

import type { FlowEndpoint, FlowRecord } from "./flow-record.js";
import { protocolTelemetry } from "./protocols/index.js";

export interface FormatOptions {
  /** ANSI colours; only when writing to a terminal. */
  color: boolean;
}

const RESET = "\x1b[0m";
const RED = "\x1b[31m";
const GREEN = "\x1b[32m";
const YELLOW = "\x1b[33m";
const CYAN = "\x1b[36m";

function paint(on: boolean, code: string, text: string): string {
  return on ? `${code}${text}${RESET}` : text;
}

function peer(ep: FlowEndpoint, withPort: boolean): string {
  const port = withPort ? `:${ep.port}` : "";
  if (ep.pod !== "") return `${ep.namespace}/${ep.pod}${port}`;
  const host = ep.ip.includes(":") && withPort ? `[${ep.ip}]` : ep.ip;
  return `${host}${port} (${ep.identity ?? "world"})`;
}

export function formatFlowLine(r: FlowRecord, opts: FormatOptions): string {
  const c = opts.color;
  const verdict = paint(c, r.verdict === "DROPPED" ? RED : r.verdict === "AUDIT" ? YELLOW : GREEN, r.verdict);
  const route = `${peer(r.source, false)} -> ${peer(r.destination, true)}`;
  const t = r.type === "L7" ? protocolTelemetry(r.protocol) : undefined;
  const what = t === undefined ? r.protocol : t.record.summary(r, (kind, text) => paint(c, kind === "bad" ? RED : CYAN, text));
  return `${verdict}  ${route}  ${what}  policy ${paint(c, YELLOW, r.policy.ref)}`;
}
