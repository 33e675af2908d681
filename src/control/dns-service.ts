// The DNS proxy of a proxy process: UDP listeners on --dns-proxy-port (IPv4 and IPv6, each
// IP_TRANSPARENT with SO_REUSEPORT, so an old and a new process answer side by side during a
// restart), the upstream forwarder (queries from the pods' own addresses, udp-forwarder.ts),
// the reply sockets, and the learned-name cache they feed.
// DNS over TCP arrives on the main proxy port and is handled by the `dns` protocol handler.
// With --workers it runs in the primary only (worker-pool.ts); the workers get the TCP DNS.

import type { Logger } from "pino";
import type { RunConfig } from "../config/run-config.js";
import { DnsUdpProxy } from "../datapath/dns/dns-udp-proxy.js";
import { observerReporter } from "../datapath/dns/dns-reporting.js";
import { UdpForwarder } from "../datapath/dns/udp-forwarder.js";
import type { DatapathObserver } from "../datapath/observer.js";
import type { UdpSourcePoolEvents } from "../datapath/dns/udp-source-pool.js";
import { ClientUdpSocket, ReplySockets, TransparentUdpListener } from "../intercept/transparent-udp.js";
import type { L7ProxyMetrics } from "../telemetry/metrics.js";
import type { FqdnLearner } from "./fqdn-learning.js";
import type { SnapshotHolder } from "./snapshot-holder.js";

export interface DnsService {
  close(): void;
}

/** The source-preserving pool's events as its metrics. */
export function upstreamSocketMetrics(m: L7ProxyMetrics): UdpSourcePoolEvents {
  const open = m.dnsUpstreamSockets.bind();
  const opened = m.dnsUpstreamSocketsOpenedTotal.bind();
  const closed = { idle: m.dnsUpstreamSocketsClosedTotal.bind("idle"), evicted: m.dnsUpstreamSocketsClosedTotal.bind("evicted") };
  const failed = { open: m.dnsUpstreamSocketFailuresTotal.bind("open"), exhausted: m.dnsUpstreamSocketFailuresTotal.bind("exhausted") };
  return {
    opened(size) {
      opened.inc();
      open.set(size);
    },
    closed(reason, size) {
      closed[reason].inc();
      open.set(size);
    },
    failed(reason) {
      failed[reason].inc();
    },
  };
}

export function startDnsService(
  config: RunConfig,
  holder: SnapshotHolder,
  learner: FqdnLearner,
  observer: DatapathObserver,
  metrics: L7ProxyMetrics,
  logger: Logger,
): DnsService {
  const fixed = config.upstream === null ? null : { ip: config.upstream.host, port: config.upstream.port };
  const onError = (err: Error): void => logger.debug({ err }, "DNS UDP socket error");
  const forwarder = new UdpForwarder({
    timeoutMs: config.dnsUpstreamTimeoutMs,
    // As for TCP: plain mode and --no-preserve-source send from the node's address.
    preserveSource:
      config.preserveSource && fixed === null
        ? {
            maxSockets: config.dnsUpstreamSockets,
            idleMs: config.dnsUpstreamSocketIdleMs,
            events: upstreamSocketMetrics(metrics),
            open: (client, resolver, onAnswer) =>
              ClientUdpSocket.open({ host: client, peer: resolver, mark: config.upstreamMark }, (d) => onAnswer(d.data, d.from), onError),
          }
        : null,
  });
  const replies = new ReplySockets();
  const sweeper = setInterval(() => replies.sweep(), 10_000);
  sweeper.unref();
  const proxy = new DnsUdpProxy({
    snapshot: () => holder.current,
    forwarder,
    reply: (data, from, to) => replies.send(data, from, to),
    learning: learner,
    reporter: observerReporter(observer),
    rejectCode: config.dnsRejectResponseCode,
    fixedUpstream: fixed,
    audit: config.policyAuditMode,
  });
  const listeners: TransparentUdpListener[] = [];
  try {
    listeners.push(TransparentUdpListener.open({ host: "0.0.0.0", port: config.dnsProxyPort, reusePort: true }, (d) => proxy.onDatagram(d), onError));
  } catch (err) {
    forwarder.close();
    clearInterval(sweeper);
    throw err;
  }
  try {
    listeners.push(TransparentUdpListener.open({ host: "::", port: config.dnsProxyPort, reusePort: true }, (d) => proxy.onDatagram(d), onError));
  } catch (err) {
    // A host without IPv6: IPv4 DNS is still served.
    logger.warn({ err: (err as Error).message }, "DNS proxy: no IPv6 UDP listener");
  }
  return {
    close() {
      for (const l of listeners) l.close();
      clearInterval(sweeper);
      forwarder.close();
      replies.close();
    },
  };
}
