// Every metric l7proxy exports, defined in one place on an injected registry. The table
// below is also what docs/metrics.md and the Grafana dashboard test check against, so a
// metric or label cannot be renamed here without them noticing.
//
// Names and labels follow what platform teams already query: Envoy's HTTP connection
// manager statistics as Cilium's proxy exports them (prefix "proxy"), and Hubble's HTTP,
// policy and drop metrics with workload-level source/destination context. Pod-level labels
// are added only when configured, because pods churn and every pod multiplies the series.

import { collectDefaultMetrics, type Registry } from "prom-client";
import { CounterFamily, DEFAULT_MAX_SERIES, GaugeFamily, HistogramFamily } from "./metric-cells.js";

export type MetricKind = "counter" | "gauge" | "histogram";

export interface MetricDefinition {
  name: string;
  kind: MetricKind;
  help: string;
  labelNames: readonly string[];
  /** Labels appended only when pod-level labels are configured. */
  podLabelNames?: readonly string[];
  buckets?: readonly number[];
}

const CONTEXT = ["source_namespace", "source_workload", "destination_namespace", "destination_workload"] as const;
const POD_CONTEXT = ["source_pod", "destination_pod"] as const;

/** Envoy's connection-manager stat prefix for the proxy's HTTP listener, as in Cilium. */
export const ENVOY_CONN_MANAGER_PREFIX = "proxy";

/**
 * Latency buckets in seconds: fine below 10 ms, where the proxy's own added time lives,
 * and coarse up to 10 s for upstream responses.
 */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * Event-loop delay buckets in seconds: a turn of a few ms is normal under load; tens of ms
 * (a long GC pause, a synchronous write, a large policy compile) show in every connection's
 * latency at once.
 */
export const EVENT_LOOP_DELAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

export const METRIC_DEFINITIONS = {
  envoyHttpRqTotal: {
    name: "envoy_http_rq_total",
    kind: "counter",
    help: "HTTP requests the proxy handled, allowed or denied (Envoy http.<prefix>.rq_total)",
    labelNames: ["envoy_http_conn_manager_prefix"],
  },
  envoyHttpDownstreamRqXx: {
    name: "envoy_http_downstream_rq_xx",
    kind: "counter",
    help: "HTTP responses sent to clients by status class (Envoy http.<prefix>.downstream_rq_<N>xx)",
    labelNames: ["envoy_http_conn_manager_prefix", "envoy_response_code_class"],
  },
  hubbleHttpRequestsTotal: {
    name: "hubble_http_requests_total",
    kind: "counter",
    help: "HTTP requests by method, protocol, response status and source/destination workload",
    labelNames: ["method", "protocol", "status", "reporter", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
  },
  grpcRequestsTotal: {
    name: "l7proxy_grpc_requests_total",
    kind: "counter",
    help: "gRPC calls (HTTP/2 streams with a gRPC content-type) by service, method and the grpc-status the client got (NO_STATUS: reset before any)",
    labelNames: ["grpc_service", "grpc_method", "grpc_status", "reporter", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
  },
  hubbleHttpRequestDurationSeconds: {
    name: "hubble_http_request_duration_seconds",
    kind: "histogram",
    help: "HTTP request duration; phase=\"proxy\" is the time l7proxy itself added, phase=\"upstream\" the time to the upstream's response head",
    labelNames: ["method", "reporter", "phase", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
    buckets: DURATION_BUCKETS,
  },
  hubbleDnsQueriesTotal: {
    name: "hubble_dns_queries_total",
    kind: "counter",
    help: "DNS queries the DNS proxy saw, by query types and source/destination workload (rcode and ips_returned are empty and 0, as Hubble's)",
    labelNames: ["rcode", "qtypes", "ips_returned", "reporter", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
  },
  hubbleDnsResponsesTotal: {
    name: "hubble_dns_responses_total",
    kind: "counter",
    help: "DNS responses sent to clients (the resolver's, or the proxy's REFUSED/NXDOMAIN/SERVFAIL), by rcode, query types and number of IPs returned (16+ past 16)",
    labelNames: ["rcode", "qtypes", "ips_returned", "reporter", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
  },
  fqdnLearnedNames: {
    name: "l7proxy_fqdn_learned_names",
    kind: "gauge",
    help: "Names DNS answers taught this node (for toFQDNs) that have not expired",
    labelNames: [],
  },
  fqdnLearnedIps: {
    name: "l7proxy_fqdn_learned_ips",
    kind: "gauge",
    help: "IPs of the learned names (a name's IPs counted once per name)",
    labelNames: [],
  },
  kafkaTopicIds: {
    name: "l7proxy_kafka_topic_ids",
    kind: "gauge",
    help: "Kafka topic IDs learned from the Metadata answers the proxy forwarded (one per ID and destination identity, distrusted ones included; at most 65,536)",
    labelNames: [],
  },
  kafkaUnknownTopicIdDenialsTotal: {
    name: "l7proxy_kafka_unknown_topic_id_denials_total",
    kind: "counter",
    help: "Kafka Fetch v13+ and Produce v13 requests refused for naming topic IDs the proxy had not learned, answered UNKNOWN_TOPIC_ID (100) so the client refreshes its metadata; by API key",
    labelNames: ["api_key"],
  },
  fqdnAnswerHoldSeconds: {
    name: "l7proxy_fqdn_answer_hold_seconds",
    kind: "histogram",
    help: "How long DNS answers that brought new addresses were held until the policy allowing them was in force (state file, UDP/SCTP sets, workers' copies); its _count is the answers held",
    labelNames: [],
    buckets: DURATION_BUCKETS,
  },
  fqdnAnswerHoldTimeoutsTotal: {
    name: "l7proxy_fqdn_answer_hold_timeouts_total",
    kind: "counter",
    help: "DNS answers released after --fqdn-max-hold-ms before the policy allowing their addresses was in force everywhere",
    labelNames: [],
  },
  dnsUpstreamSockets: {
    name: "l7proxy_dns_upstream_sockets",
    kind: "gauge",
    help: "UDP sockets open from clients' own addresses to resolvers (the DNS proxy's source-preserving pool, bounded by --dns-upstream-sockets)",
    labelNames: [],
  },
  dnsUpstreamSocketsOpenedTotal: {
    name: "l7proxy_dns_upstream_sockets_opened_total",
    kind: "counter",
    help: "UDP sockets the DNS proxy opened from a client's address to a resolver",
    labelNames: [],
  },
  dnsUpstreamSocketsClosedTotal: {
    name: "l7proxy_dns_upstream_sockets_closed_total",
    kind: "counter",
    help: "UDP upstream sockets closed, by reason: idle (no query for --dns-upstream-socket-idle-ms) or evicted (the pool was full and a new client needed one)",
    labelNames: ["reason"],
  },
  dnsUpstreamSocketFailuresTotal: {
    name: "l7proxy_dns_upstream_socket_failures_total",
    kind: "counter",
    help: "DNS queries over UDP answered SERVFAIL because no socket from the client's address could be had, by reason: open (the socket could not be made) or exhausted (every pooled socket had queries in flight)",
    labelNames: ["reason"],
  },
  hubbleKafkaRequestsTotal: {
    name: "hubble_kafka_requests_total",
    kind: "counter",
    help: "Kafka requests by topic, API key, error code answered (0 when the broker answered) and source/destination workload; a request naming several topics counts once for each",
    labelNames: ["topic", "api_key", "error_code", "reporter", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
  },
  hubbleKafkaRequestDurationSeconds: {
    name: "hubble_kafka_request_duration_seconds",
    kind: "histogram",
    help: "Kafka request duration by topic and API key; phase=\"proxy\" is the time l7proxy itself added, phase=\"upstream\" the time to the broker's response",
    labelNames: ["topic", "api_key", "reporter", "phase", ...CONTEXT],
    podLabelNames: POD_CONTEXT,
    buckets: DURATION_BUCKETS,
  },
  hubblePolicyVerdictsTotal: {
    name: "hubble_policy_verdicts_total",
    kind: "counter",
    help: "Policy verdicts: per enforced side of each connection (match l3-l4 or none) and per L7 request (match l7/http, l7/kafka, l7/dns); action forwarded, dropped or audit",
    labelNames: ["direction", "match", "action"],
  },
  hubbleDropTotal: {
    name: "hubble_drop_total",
    kind: "counter",
    help: "Connections dropped at L3/L4 by policy, by drop reason and L4 protocol",
    labelNames: ["reason", "protocol"],
  },
  deniedRequestsTotal: {
    name: "l7proxy_denied_requests_total",
    kind: "counter",
    help: "Denied L7 requests and L3/L4-denied connections, by the policy that denied them (namespace/name, or default-deny)",
    labelNames: ["protocol", ...CONTEXT, "policy"],
    podLabelNames: POD_CONTEXT,
  },
  connectionsActive: {
    name: "l7proxy_connections_active",
    kind: "gauge",
    help: "Client connections currently open through the proxy",
    labelNames: [],
  },
  connectionsTotal: {
    name: "l7proxy_connections_total",
    kind: "counter",
    help: "Client connections accepted by the proxy",
    labelNames: [],
  },
  receivedBytesTotal: {
    name: "l7proxy_received_bytes_total",
    kind: "counter",
    help: "Bytes received from clients, counted when each connection closes",
    labelNames: [],
  },
  sentBytesTotal: {
    name: "l7proxy_sent_bytes_total",
    kind: "counter",
    help: "Bytes sent to clients, counted when each connection closes",
    labelNames: [],
  },
  parseErrorsTotal: {
    name: "l7proxy_parse_errors_total",
    kind: "counter",
    help: "Requests or responses rejected as malformed or too large, by error code",
    labelNames: ["code"],
  },
  connectionErrorsTotal: {
    name: "l7proxy_connection_errors_total",
    kind: "counter",
    help: "Connections that ended abnormally (upstream failure, timeout, bad upstream response, internal error, unsupported protocol), by error code",
    labelNames: ["code"],
  },
  upstreamConnectFailuresTotal: {
    name: "l7proxy_upstream_connect_failures_total",
    kind: "counter",
    help: "Connections to the original destination that were refused or timed out",
    labelNames: [],
  },
  policyRevision: {
    name: "l7proxy_policy_revision",
    kind: "gauge",
    help: "Revision of the policy snapshot in force",
    labelNames: [],
  },
  policyReloadsTotal: {
    name: "l7proxy_policy_reloads_total",
    kind: "counter",
    help: "Policy loads by result (success, failure); a failed load keeps the last good snapshot",
    labelNames: ["result"],
  },
  policyLastReloadTimestamp: {
    name: "l7proxy_policy_last_reload_timestamp_seconds",
    kind: "gauge",
    help: "Unix time of the last policy load attempt, by result",
    labelNames: ["result"],
  },
  flowRecordsTotal: {
    name: "l7proxy_flow_records_total",
    kind: "counter",
    help: "Flow records by verdict and result: written, or rate_limited (counted but not written)",
    labelNames: ["verdict", "result"],
  },
  logLinesDroppedTotal: {
    name: "l7proxy_log_lines_dropped_total",
    kind: "counter",
    help: "Log lines (flow records included) dropped because stderr did not keep up: the proxy never waits for its log reader",
    labelNames: [],
  },
  eventLoopDelaySeconds: {
    name: "l7proxy_event_loop_delay_seconds",
    kind: "histogram",
    help: "How late the event loop ran a timer due every 10 ms (perf_hooks.monitorEventLoopDelay, folded in once a second): every connection of the process waits this long",
    labelNames: [],
    buckets: EVENT_LOOP_DELAY_BUCKETS,
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRIC_DEFINITIONS;

/** Label names a definition has under the given pod-label setting. */
export function labelNamesOf(def: MetricDefinition, podLabels: boolean): string[] {
  return podLabels && def.podLabelNames !== undefined ? [...def.labelNames, ...def.podLabelNames] : [...def.labelNames];
}

type FamilyFor<K extends MetricKey> = (typeof METRIC_DEFINITIONS)[K]["kind"] extends "counter"
  ? CounterFamily
  : (typeof METRIC_DEFINITIONS)[K]["kind"] extends "gauge"
    ? GaugeFamily
    : HistogramFamily;

export type L7ProxyMetrics = { readonly [K in MetricKey]: FamilyFor<K> } & { readonly podLabels: boolean };

export interface CreateMetricsOptions {
  podLabels?: boolean;
  maxSeriesPerMetric?: number;
}

export function createMetrics(registry: Registry, opts: CreateMetricsOptions = {}): L7ProxyMetrics {
  const podLabels = opts.podLabels ?? false;
  const maxSeries = opts.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES;
  const out: Record<string, CounterFamily | GaugeFamily | HistogramFamily> = {};
  for (const [key, def] of Object.entries(METRIC_DEFINITIONS) as [MetricKey, MetricDefinition][]) {
    const cfg = { name: def.name, help: def.help, labelNames: labelNamesOf(def, podLabels), registry, maxSeries };
    out[key] =
      def.kind === "counter"
        ? new CounterFamily(cfg)
        : def.kind === "gauge"
          ? new GaugeFamily(cfg)
          : new HistogramFamily({ ...cfg, buckets: def.buckets ?? DURATION_BUCKETS });
  }
  return { ...(out as unknown as { [K in MetricKey]: FamilyFor<K> }), podLabels };
}

/** Node.js process metrics (CPU, memory, event loop lag, GC, handles) on the same registry. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}
