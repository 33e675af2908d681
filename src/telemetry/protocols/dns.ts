// DNS's telemetry: Hubble's DNS query and response counts (rcode, qtypes, ips_returned) and
// the `dns` part of flow records ({query, qtypes, rcode, ips, ttl}, as Hubble's DNS flows).

import type { DnsDetail, L7Exchange } from "../../datapath/observer.js";
import type { FlowRecord } from "../flow-record.js";
import type { CounterCell } from "../metric-cells.js";
import type { L7ProxyMetrics } from "../metrics.js";
import { REPORTERS, type CountContext, type ProtocolMetrics, type ProtocolRecord, type ProtocolTelemetry } from "./protocol-telemetry.js";

export interface FlowDns {
  query: string;
  qtypes: string[];
  rcode: string;
  ips: string[];
  ttl: number | null;
  transport: "udp" | "tcp";
  latency: { proxySeconds: number; upstreamSeconds: number | null };
}

const SLOT = 2;
/** ips_returned is a label: past this many it reads "16+" (a bounded set of values). */
const MAX_IPS_LABEL = 16;

class DnsPairCells {
  /** [reporter] -> label key -> cell */
  readonly queries: [Map<string, CounterCell>, Map<string, CounterCell>] = [new Map(), new Map()];
  readonly responses: [Map<string, CounterCell>, Map<string, CounterCell>] = [new Map(), new Map()];
  /**
   * The cells of the last query with one question type, per reporter: a pod asks the same
   * kind of question over and over, so most queries find their cells here, without building
   * the label key.
   */
  readonly last: [LastCells | null, LastCells | null] = [null, null];
}

interface LastCells {
  qtype: string;
  rcode: string;
  ips: number;
  query: CounterCell;
  response: CounterCell;
}

function ipsLabel(n: number): string {
  return n > MAX_IPS_LABEL ? `${MAX_IPS_LABEL}+` : String(n);
}

class DnsMetrics implements ProtocolMetrics<DnsDetail> {
  constructor(private readonly m: L7ProxyMetrics) {}

  count(ex: L7Exchange<DnsDetail>, ctx: CountContext): void {
    const d = ex.detail;
    const cells = (ctx.pair.slots[SLOT] ??= new DnsPairCells()) as DnsPairCells;
    const r = ctx.reporter;
    const last = cells.last[r];
    const ipsCount = Math.min(d.ips.length, MAX_IPS_LABEL + 1);
    if (last !== null && d.qtypes.length === 1 && d.qtypes[0] === last.qtype && d.rcode === last.rcode && ipsCount === last.ips) {
      last.query.inc();
      last.response.inc();
      return;
    }
    const qtypes = d.qtypes.join(",");
    // Hubble counts the query (no rcode yet) and then its response.
    let q = cells.queries[r].get(qtypes);
    if (q === undefined) {
      q = this.m.hubbleDnsQueriesTotal.bind("", qtypes, "0", REPORTERS[r], ...ctx.pair.context, ...ctx.pair.pods);
      cells.queries[r].set(qtypes, q);
    }
    q.inc();
    const ips = ipsLabel(d.ips.length);
    const key = `${d.rcode}|${qtypes}|${ips}`;
    let a = cells.responses[r].get(key);
    if (a === undefined) {
      a = this.m.hubbleDnsResponsesTotal.bind(d.rcode, qtypes, ips, REPORTERS[r], ...ctx.pair.context, ...ctx.pair.pods);
      cells.responses[r].set(key, a);
    }
    a.inc();
    if (d.qtypes.length === 1) cells.last[r] = { qtype: qtypes, rcode: d.rcode, ips: ipsCount, query: q, response: a };
  }
}

export function dnsPart(ex: L7Exchange<DnsDetail>): FlowDns {
  const d = ex.detail;
  return {
    query: d.query,
    qtypes: d.qtypes,
    rcode: d.rcode,
    ips: d.ips,
    ttl: d.ttl,
    transport: d.transport,
    latency: { proxySeconds: ex.proxyLatencySeconds, upstreamSeconds: ex.upstreamLatencySeconds ?? null },
  };
}

const record: ProtocolRecord<DnsDetail> = {
  part: dnsPart,
  summary(rec: FlowRecord, paint) {
    const d = rec.dns as FlowDns | undefined;
    if (d === undefined) return rec.protocol;
    const ips = d.ips.length > 0 ? ` ${d.ips.join(",")}` : "";
    return `dns ${d.qtypes.join(",")} ${d.query} ${paint(d.rcode === "NOERROR" ? "good" : "bad", d.rcode)}${ips}`;
  },
};

export const dnsTelemetry: ProtocolTelemetry<DnsDetail> = {
  protocol: "dns",
  slot: SLOT,
  record,
  metrics: (m) => new DnsMetrics(m),
};
