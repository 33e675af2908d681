// A request's flow record as the JSON text of its log line, built without building the
// record: the same text JSON.stringify(l7Record(...)) gives (a property test holds them
// equal), at a fraction of the cost.
//
// Why: at the default --log-level info every sampled request (up to 1,000 a second) becomes
// a log line, and building a record tree of some fifteen objects and serializing all of it
// cost ~18 µs of the proxy's core per line under load (~3 µs in isolation; the rest is cold
// caches next to the data path), a few percent of throughput. Most
// of a record does not change from request to request: the source and destination (a
// connection's endpoints, labels and ports) and the policy sides (verdict objects the policy
// snapshot shares between requests). Their JSON is made once and reused while those objects
// live; only the time, the verdict and the protocol's part (`http`, `kafka`, `dns`) are
// serialized per request.

import type { L7Exchange } from "../datapath/observer.js";
import type { FlowQuery, FlowVerdict, SideVerdict } from "../policy/decision.js";
import { denyReason } from "./flow-attribution.js";
import { endpointOf, policyOf, protocolPart, reachedSides, recordSide, sideOf, verdictName } from "./flow-record.js";
import type { RecordOptions } from "./protocols/protocol-telemetry.js";

interface PeersJson {
  flow: FlowVerdict;
  source: string;
  destination: string;
}

interface SideJson {
  /** As the record's `policy` when this side decided. */
  policy: string;
  /** As an element of the record's `sides`. */
  side: string;
}

export class L7RecordJson {
  // Keyed by the connection's query (its ports) and checked against its flow verdict, which a
  // policy reload replaces; weak, so a closed connection's entry goes with it.
  private readonly peers = new WeakMap<FlowQuery, PeersJson>();
  private readonly sides = new WeakMap<SideVerdict, SideJson>();

  constructor(private readonly opts: RecordOptions) {}

  /** JSON.stringify(l7Record(ex, time, opts)), in effect. */
  line(ex: L7Exchange, time: string): string {
    const v = ex.verdict;
    const decider = recordSide(v);
    const protocol = ex.detail.protocol;
    const peers = this.peersOf(ex.flow, ex.query);
    let sides = "";
    for (const s of reachedSides(v.egress, v.ingress)) sides += (sides === "" ? "" : ",") + this.sideJson(s).side;
    let out =
      `{"time":${JSON.stringify(time)},"verdict":"${verdictName(v)}","type":"L7","protocol":"${protocol}",` +
      `"direction":"${decider.direction}","source":${peers.source},"destination":${peers.destination},` +
      `"policy":${this.sideJson(decider).policy},"sides":[${sides}],"${protocol}":${JSON.stringify(protocolPart(ex, this.opts))}`;
    if (!v.allowed || v.audit === true) out += `,"denyReason":"${denyReason(decider)}"`;
    if (v.logs.length > 0) out += `,"logs":${JSON.stringify(v.logs)}`;
    return `${out}}`;
  }

  private peersOf(flow: FlowVerdict, q: FlowQuery): PeersJson {
    let p = this.peers.get(q);
    if (p === undefined || p.flow !== flow) {
      p = {
        flow,
        source: JSON.stringify(endpointOf(flow.source, q.srcPort ?? 0)),
        destination: JSON.stringify(endpointOf(flow.destination, q.dstPort)),
      };
      this.peers.set(q, p);
    }
    return p;
  }

  private sideJson(s: SideVerdict): SideJson {
    let j = this.sides.get(s);
    if (j === undefined) {
      j = { policy: JSON.stringify(policyOf(s)), side: JSON.stringify(sideOf(s)) };
      this.sides.set(s, j);
    }
    return j;
  }
}
