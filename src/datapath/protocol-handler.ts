// The seam every L7 protocol plugs into. The connection handler does the L3/L4 part (identify
// peers, decide the flow, reset what is denied) and then hands an allowed connection whose
// port has L7 rules to the handler registered for the snapshot's protocol of that port
// (protocol-registry.ts). A handler owns the connection from then on: it parses requests
// (pure, bounded parsers in its own folder), asks `binding` for each verdict, forwards or
// answers denials in its protocol's own words (a DenyResponder), and reports one L7 record
// per request to `observer`.

import type { Socket } from "node:net";
import type { RunConfig } from "../config/run-config.js";
import type { FlowQuery, L7Protocol } from "../policy/decision.js";
import type { FqdnLearning } from "./dns/dns-reporting.js";
import type { TopicIdRuntime } from "./kafka/topic-ids.js";
import type { DatapathObserver } from "./observer.js";
import type { PolicyBinding } from "./policy-binding.js";

/** net.connect's `onread` option: the upstream is read into a buffer the handler reuses. */
export interface UpstreamOnRead {
  buffer: () => Uint8Array;
  callback: (bytes: number, buf: Uint8Array) => boolean;
}

/** What the server can ask of a live connection while draining. */
export interface ConnectionHandle {
  /** Close once idle (after the requests in flight are answered). Null: nothing to drain (byte relays). */
  drain: (() => void) | null;
}

export interface L7Connection {
  /** The accepted client socket (allowHalfOpen, noDelay). */
  readonly client: Socket;
  /** Who is talking to whom: the original destination, as TPROXY kept it. */
  readonly query: FlowQuery;
  /** Decides each request on the newest policy snapshot, failing closed. */
  readonly binding: PolicyBinding;
  /** Opens the connection to the original destination; counts failures. */
  connectUpstream(onread?: UpstreamOnRead): Socket;
  readonly observer: DatapathObserver;
  /** The frozen run configuration: every limit and timeout, with the schema's defaults. */
  readonly config: RunConfig;
  /** True once the proxy drains (SIGTERM): answer what was received, then close. */
  draining(): boolean;
  /** Where DNS answers' addresses go (toFQDNs); null without a learned-name cache. */
  readonly fqdn: FqdnLearning | null;
  /** The process's Kafka topic-ID table (kafka/topic-ids.ts); absent, the handler's own. */
  readonly kafkaTopicIds?: TopicIdRuntime;
}

export interface ProtocolHandler {
  readonly protocol: L7Protocol;
  start(conn: L7Connection): ConnectionHandle;
}
