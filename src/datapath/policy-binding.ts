// A connection's tie to the policy: every request on it is decided here, on the newest
// snapshot. A reload applies to the next request of a keep-alive connection (requests already
// forwarded finish undisturbed). The connection keeps the protocol it was bound with (its
// parser cannot change mid-stream): when the new snapshot gives the port another L7 protocol,
// or denies the flow at L3/L4, the request is denied (fail closed), never forwarded unchecked.
// A port that lost its L7 rules but stays allowed at L3/L4 allows every request, as the
// policy now says.
//
// Policy audit mode: what the policy denies is forwarded all the same, marked `audit` so the
// records say AUDIT and name the policy that would have denied it.

import type { SnapshotHolder } from "../control/snapshot-holder.js";
import type {
  DnsQueryFacts,
  FlowQuery,
  FlowVerdict,
  HttpRequestFacts,
  KafkaRequestFacts,
  L7Protocol,
  L7Verdict,
  PolicySnapshot,
} from "../policy/decision.js";

export interface PolicyBinding {
  /** The protocol the connection was bound with: the parser that reads it. */
  readonly protocol: L7Protocol;
  /** The flow verdict in force (re-decided after a reload). */
  readonly flow: FlowVerdict;
  readonly query: FlowQuery;
  decideHttp(req: HttpRequestFacts): L7Verdict;
  decideKafka(req: KafkaRequestFacts): L7Verdict;
  decideDns(req: DnsQueryFacts): L7Verdict;
}

export interface BindOptions {
  holder: SnapshotHolder;
  snapshot: PolicySnapshot;
  query: FlowQuery;
  flow: FlowVerdict;
  protocol: L7Protocol;
  audit: boolean;
}

export function bindFlow(o: BindOptions): PolicyBinding {
  return new Binding(o.holder, o.snapshot, o.query, o.flow, o.protocol, o.audit);
}

class Binding implements PolicyBinding {
  constructor(
    private readonly holder: SnapshotHolder,
    private snapshot: PolicySnapshot,
    readonly query: FlowQuery,
    public flow: FlowVerdict,
    readonly protocol: L7Protocol,
    private readonly audit: boolean,
  ) {}

  decideHttp(req: HttpRequestFacts): L7Verdict {
    this.refresh();
    return this.settle(this.snapshot.decideHttp(this.flow, this.query, req), "http");
  }

  decideKafka(req: KafkaRequestFacts): L7Verdict {
    this.refresh();
    return this.settle(this.snapshot.decideKafka(this.flow, this.query, req), "kafka");
  }

  decideDns(req: DnsQueryFacts): L7Verdict {
    this.refresh();
    return this.settle(this.snapshot.decideDns(this.flow, this.query, req), "dns");
  }

  private refresh(): void {
    // Without a snapshot (never, once one was loaded) the last one stays in force.
    const now = this.holder.current ?? this.snapshot;
    if (now === this.snapshot) return;
    this.snapshot = now;
    this.flow = now.decideFlow(this.query);
  }

  private settle(v: L7Verdict, asked: L7Protocol): L7Verdict {
    let verdict = v;
    const bound = this.flow.l7;
    if (verdict.allowed && (asked !== this.protocol || (bound !== null && bound !== this.protocol))) {
      // The snapshot's decide* already denies a side whose port speaks another protocol; this
      // is the last word, so that no path through the engine can let such a request pass.
      verdict = { allowed: false, egress: verdict.egress, ingress: verdict.ingress, headerOps: [], logs: verdict.logs };
      const deny = { direction: "ingress" as const, enforced: true, allowed: false, decidedBy: { kind: "default-deny" as const } };
      if (verdict.egress.allowed && verdict.ingress.allowed) verdict.ingress = deny;
    }
    if (verdict.allowed || !this.audit) return verdict;
    return { allowed: true, audit: true, egress: verdict.egress, ingress: verdict.ingress, headerOps: verdict.headerOps, logs: verdict.logs };
  }
}
