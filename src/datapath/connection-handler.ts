// One accepted (TPROXY'd) connection, start to finish:
//   identify peers -> L3/L4 verdict -> deny: reset | no L7 rules: relay bytes
//   | L7 rules: bind the flow to the policy and hand it to its protocol's handler.
// The socket's local address is the original destination (TPROXY keeps it), so the
// upstream connection goes exactly where the client was going. Nothing here knows any
// protocol: protocol-registry.ts picks the handler from the snapshot's protocol for the port.

import type { Socket } from "node:net";
import type { RunConfig } from "../config/run-config.js";
import type { SnapshotHolder } from "../control/snapshot-holder.js";
import type { FlowQuery, FlowVerdict } from "../policy/decision.js";
import type { FqdnLearning } from "./dns/dns-reporting.js";
import type { TopicIdRuntime } from "./kafka/topic-ids.js";
import type { DatapathObserver } from "./observer.js";
import { bindFlow } from "./policy-binding.js";
import type { ConnectionHandle, UpstreamOnRead } from "./protocol-handler.js";
import { handlerFor } from "./protocol-registry.js";
import { relayTcp } from "./tcp-relay.js";
import { connectUpstream } from "./upstream-connect.js";

export type { ConnectionHandle } from "./protocol-handler.js";

export interface ConnectionContext {
  holder: SnapshotHolder;
  observer: DatapathObserver;
  /** Frozen run configuration: limits, timeouts, plain mode (`upstream`), audit mode. */
  config: RunConfig;
  /** Set while draining: sessions answer what they received, then close. */
  draining: () => boolean;
  /** The learned-name cache (toFQDNs): names for a destination, and where DNS answers go. */
  fqdn?: FqdnRuntime | null;
  /** Kafka topic IDs learned from Metadata answers; with --workers shared with the others. */
  kafkaTopicIds?: TopicIdRuntime;
}

export interface FqdnRuntime extends FqdnLearning {
  namesOf(ip: string): readonly string[];
}

function stripMapped(ip: string | undefined): string {
  if (ip === undefined) return "";
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

export function handleConnection(client: Socket, ctx: ConnectionContext): ConnectionHandle {
  const { observer, config } = ctx;
  observer.connectionOpened();
  client.once("close", () => observer.connectionClosed(client.bytesRead, client.bytesWritten));
  client.on("error", () => {
    /* reported through close; an error here must never crash the proxy */
  });
  const snapshot = ctx.holder.current;
  if (snapshot === null) {
    // Not ready (no policy loaded yet): fail closed.
    client.resetAndDestroy();
    return { drain: null };
  }
  const fixed = config.upstream;
  const q: FlowQuery = {
    srcIp: stripMapped(client.remoteAddress),
    srcPort: client.remotePort ?? 0,
    dstIp: fixed?.host ?? stripMapped(client.localAddress),
    dstPort: fixed?.port ?? client.localPort ?? 0,
    protocol: "TCP",
  };
  // The names the destination has now: a connection allowed by them stays allowed when
  // they expire later (the binding re-decides with this same query after a reload).
  const names = ctx.fqdn?.namesOf(q.dstIp);
  if (names !== undefined && names.length > 0) q.dstNames = names;
  let flow: FlowVerdict;
  try {
    flow = snapshot.decideFlow(q);
  } catch (err) {
    observer.connectionError("L7P_ERR_INTERNAL", `deciding the flow: ${String(err)}`);
    client.resetAndDestroy();
    return { drain: null };
  }
  const audit = config.policyAuditMode;
  observer.l4Verdict(flow, q, audit);
  const upstreamOpts = {
    timeoutMs: config.upstreamConnectTimeoutMs,
    observer,
    // Plain mode (--upstream) dials a fixed server from the node: there is no original
    // destination whose proxy would need to see the client.
    preserveSource: config.preserveSource && fixed === null ? { mark: config.upstreamMark } : null,
  };
  if (!flow.allowed && !audit) {
    // The handshake completed with the proxy, never with the destination; a reset tells
    // the client at once instead of leaving it to time out.
    client.resetAndDestroy();
    return { drain: null };
  }
  client.setNoDelay(true);
  if (flow.l7 === null) {
    // (An audited L3/L4 denial is relayed as bytes too: its L7 rules, if any, had no say.)
    void relayTcp(client, connectUpstream(q, upstreamOpts));
    return { drain: null };
  }
  const handler = handlerFor(flow.l7);
  return handler.start({
    client,
    query: q,
    binding: bindFlow({ holder: ctx.holder, snapshot, query: q, flow, protocol: flow.l7, audit }),
    connectUpstream: (onread?: UpstreamOnRead) => connectUpstream(q, upstreamOpts, onread),
    observer,
    config,
    draining: ctx.draining,
    fqdn: ctx.fqdn ?? null,
    ...(ctx.kafkaTopicIds !== undefined ? { kafkaTopicIds: ctx.kafkaTopicIds } : {}),
  });
}
