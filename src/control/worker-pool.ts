// --workers N: one primary and N worker processes. Each worker loads the policy itself and
// accepts on its own transparent SO_REUSEPORT socket, so the kernel spreads connections
// across cores with no hand-off between processes. The primary owns what must exist once per
// node: the interception rules, the admin API (its /metrics sums the workers' registries and
// its own, its /flows shows the records the workers send it beside its own), the UDP DNS
// proxy and the learned names (toFQDNs), which it keeps every worker's copy of in step
// (fqdn-sync.ts). DNS over TCP arrives on the proxy port, so the workers answer it and hand
// what it teaches to the primary. Kafka topic IDs a worker learns from Metadata answers reach
// every other worker before the answer is released (topic-id-sync.ts), so a client's Fetch
// is decided the same on whichever worker its connection lands. A worker that dies is
// replaced (and sent every learned name and topic ID before it listens); the port stays
// served by the others meanwhile.
//
// The DNS proxy stays in one process rather than one per worker: a UDP query and its answer
// are a few microseconds of work, and one owner of the cache means one state file, one
// nftables writer and one place that knows when an answer may be released.
//
// Workers are plain child processes (child_process.fork), not node:cluster workers: a
// cluster worker hands every listen() to the primary, which cannot share a socket that was
// created from a file descriptor (our transparent socket).

import { fork, type ChildProcess } from "node:child_process";
import { AggregatorRegistry, Registry } from "prom-client";
import type { RunConfig } from "../config/run-config.js";
import { WORKER_ENV } from "../config/run-config.js";
import { NO_OBSERVER } from "../datapath/observer.js";
import type { FlowRecord } from "../telemetry/flow-record.js";
import type { L7ProxyMetrics } from "../telemetry/metrics.js";
import { PIPE_BUF } from "../telemetry/logger.js";
import { Telemetry } from "../telemetry/telemetry.js";
import { startDnsService, type DnsService } from "./dns-service.js";
import type { FqdnLearner } from "./fqdn-learning.js";
import { FqdnReplica } from "./fqdn-replica.js";
import { FqdnFanout, type FqdnPeer, type FqdnSyncMessage } from "./fqdn-sync.js";
import { createProcessTelemetry, dnsEnabled, formatLearned, fqdnHoldMetrics, keepRulesInstalled, startFqdnLearner, startPolicySource, startProxy, startSharedAdmin } from "./proxy-process.js";
import { SnapshotHolder } from "./snapshot-holder.js";
import { TopicIdPersistence } from "./topic-id-persistence.js";
import { TopicIdFanout, TopicIdReplica, type TopicIdPeer, type TopicIdSyncMessage } from "./topic-id-sync.js";

/** How long a starting worker waits for the learned names before it listens anyway. */
const SYNC_TIMEOUT_MS = 10_000;

/** One registry's metrics as getMetricsAsJSON() gives them (what aggregate() takes). */
type MetricsJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

type Message =
  | { type: "listening" }
  | { type: "flow"; record: FlowRecord }
  | { type: "metrics?"; id: number }
  | { type: "metrics"; id: number; metrics: MetricsJson }
  | FqdnSyncMessage
  | TopicIdSyncMessage;

/** In a worker: serve connections and report to the primary. */
export async function runWorker(config: RunConfig): Promise<{ exitCode: number }> {
  const send = (m: Message): boolean => {
    if (!process.connected || process.send === undefined) return false;
    process.send(m);
    return true;
  };
  // Set by the telemetry hook, which startProxy calls before the fqdn hook.
  let metrics: L7ProxyMetrics | null = null;
  const result = await startProxy(config, "worker", {
    fqdn: async (logger) => {
      const replica = new FqdnReplica({
        minTtlSeconds: config.fqdnMinTtl,
        maxIpsPerName: config.fqdnMaxIpsPerName,
        holdMs: config.fqdnMaxHoldMs,
        send,
        logger,
        holds: metrics === null ? null : fqdnHoldMetrics(metrics),
      });
      process.on("message", (m: unknown) => replica.onMessage(m));
      // Before listening: a connection to an address learned before this worker started
      // (a replacement for one that died) must be allowed here too.
      if (!(await replica.sync(SYNC_TIMEOUT_MS))) logger.warn("no learned DNS names from the primary; listening without them");
      return replica;
    },
    kafkaTopicIds: async (logger) => {
      const replica = new TopicIdReplica({ send });
      process.on("message", (m: unknown) => replica.onMessage(m));
      // Before listening, as for the names: a replacement worker decides Fetches by the IDs
      // the others learned before it started.
      if (!(await replica.sync(SYNC_TIMEOUT_MS))) logger.warn("no learned Kafka topic IDs from the primary; listening without them");
      return replica;
    },
    onListening: () => send({ type: "listening" }),
    telemetry: (t: Telemetry, registry: Registry) => {
      metrics = t.metrics;
      t.flows.subscribe((record) => send({ type: "flow", record }));
      process.on("message", (m: Message) => {
        if (m.type === "metrics?") void registry.getMetricsAsJSON().then((metrics) => send({ type: "metrics", id: m.id, metrics }));
      });
    },
  });
  // The IPC channel would keep this process alive after it has drained.
  if (process.connected) process.disconnect();
  return result;
}

/** /metrics on the primary: every worker's registry, summed per series. */
class WorkersRegistry extends Registry {
  #nextId = 0;
  constructor(
    private readonly workers: () => ChildProcess[],
    /** The primary's own (its DNS proxy's counters, the learned-name gauges). */
    private readonly own: Registry,
  ) {
    super();
  }

  override async metrics(): Promise<string> {
    const id = ++this.#nextId;
    const replies = await Promise.all(
      this.workers().map(
        (w) =>
          new Promise<MetricsJson>((resolve) => {
            const timer = setTimeout(() => done([]), 2000);
            const onMessage = (m: Message): void => {
              if (m.type === "metrics" && m.id === id) done(m.metrics);
            };
            function done(metrics: MetricsJson): void {
              clearTimeout(timer);
              w.off("message", onMessage);
              resolve(metrics);
            }
            w.on("message", onMessage);
            w.send({ type: "metrics?", id } satisfies Message);
          }),
      ),
    );
    replies.push(await this.own.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(replies.filter((r) => r.length > 0)).metrics();
  }
}

/**
 * Node.js flags of a worker: the primary's own, with the young generation set when the
 * configuration asks (a worker's heap is configured at its start, so this is the only place
 * the run configuration can size it).
 */
export function workerExecArgv(parent: readonly string[], semiSpaceMb: number): string[] {
  if (semiSpaceMb === 0) return [...parent];
  const kept: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i]!;
    if (!/^--(min|max)[-_]semi[-_]space[-_]size(=|$)/.test(a)) kept.push(a);
    else if (!a.includes("=")) i++; // its value is the next argument
  }
  return [...kept, `--min-semi-space-size=${semiSpaceMb}`, `--max-semi-space-size=${semiSpaceMb}`];
}

/** In the primary: rules, admin API, DNS proxy, learned names, and the workers' lifecycle. */
export async function runWorkerPool(config: RunConfig, argv: readonly string[]): Promise<{ exitCode: number }> {
  // The primary shares stderr with the workers: its writes must stay whole too. Its
  // telemetry is the DNS proxy's; process metrics stay the workers' (as before DNS moved here).
  const { logger, drainLogs, registry, telemetry } = createProcessTelemetry(config, PIPE_BUF, false);
  const holder = new SnapshotHolder();
  const flows = telemetry.flows;
  const workers = new Map<ChildProcess, { listening: boolean; peer: FqdnPeer; topicPeer: TopicIdPeer }>();
  let rulesReady = !config.installRules;
  let stopping = false;
  let learner: FqdnLearner | null = null;
  let dns: DnsService | null = null;

  const admin = await startSharedAdmin(config, new WorkersRegistry(() => [...workers.keys()], registry), flows, {
    ready: () =>
      holder.current !== null && rulesReady && (dns !== null || !dnsEnabled(config)) && [...workers.values()].filter((w) => w.listening).length === config.workers,
    policyInfo: () => ({ ...holder.info, fqdn: learner?.list().map(formatLearned) ?? [] }),
  });
  // The primary loads the policy too (the same source as a single process): the rules need
  // the enforced endpoints, the DNS proxy decides queries with it, /policy shows it.
  const source = await startPolicySource(config, holder, logger, () => {});
  if ("exitCode" in source) {
    await admin?.close();
    return source;
  }
  const fanout = new FqdnFanout({ ackTimeoutMs: config.fqdnMaxHoldMs, logger });
  // The union of the workers' topic IDs, kept in --state-dir and read back before they start.
  let persistence: TopicIdPersistence | null = null;
  const topicIds = new TopicIdFanout({ logger, ...(config.stateDir !== null ? { persist: () => persistence!.persist() } : {}) });
  if (config.stateDir !== null) {
    persistence = new TopicIdPersistence({ table: topicIds.table, stateDir: config.stateDir, logger, onApplied: (entries) => topicIds.broadcast(entries) });
    const restored = persistence.restore();
    if (restored > 0) logger.info({ topicIds: restored }, "Kafka topic IDs restored from --state-dir");
  }
  const fqdn = startFqdnLearner(config, holder, logger, config.installRules, (names) => fanout.publish(names), fqdnHoldMetrics(telemetry.metrics));
  learner = fqdn;
  const gauges = setInterval(() => {
    telemetry.metrics.fqdnLearnedNames.bind().set(fqdn.cache.names);
    telemetry.metrics.fqdnLearnedIps.bind().set(fqdn.cache.ips);
    telemetry.metrics.kafkaTopicIds.bind().set(topicIds.table.size);
  }, 1000);
  gauges.unref();
  if (config.installRules) {
    await keepRulesInstalled(config, holder, logger, fqdn);
    rulesReady = true;
  }
  if (dnsEnabled(config)) dns = startDnsService(config, holder, fqdn, config.telemetry ? telemetry : NO_OBSERVER, telemetry.metrics, logger);

  const start = (index: number): void => {
    const w = fork(process.argv[1]!, [...argv], {
      env: { ...process.env, [WORKER_ENV]: String(index) },
      execArgv: workerExecArgv(process.execArgv, config.semiSpaceMb),
      stdio: "inherit",
    });
    const peer: FqdnPeer = {
      label: `worker ${index}`,
      send: (m) => {
        // A worker that just exited: its channel is closed, nothing is waited for from it.
        if (w.connected) w.send(m, () => {});
      },
    };
    const topicPeer: TopicIdPeer = {
      label: `worker ${index}`,
      send: (m) => {
        if (w.connected) w.send(m, () => {});
      },
    };
    workers.set(w, { listening: false, peer, topicPeer });
    w.on("message", (m: Message) => {
      if (fanout.onMessage(peer, m, fqdn)) return;
      if (topicIds.onMessage(topicPeer, m)) return;
      if (m.type === "listening") workers.set(w, { listening: true, peer, topicPeer });
      else if (m.type === "flow") flows.push(m.record);
    });
    w.once("exit", (code, signal) => {
      workers.delete(w);
      fanout.remove(peer);
      topicIds.remove(topicPeer);
      if (stopping) return;
      logger.error({ worker: index, code, signal }, "worker exited; starting a replacement");
      start(index);
    });
  };
  for (let i = 0; i < config.workers; i++) start(i);
  logger.info({ workers: config.workers, port: config.proxyPort }, "l7proxy primary started");

  const exitCode = await new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      stopping = true;
      logger.info({ signal }, "draining workers");
      // Closing the DNS sockets hands their port to a new process sharing it (SO_REUSEPORT).
      dns?.close();
      const done = async (): Promise<void> => {
        await source.stop();
        fqdn.close();
        persistence?.close();
        await admin?.close();
        logger.info("stopped; interception rules left in place (fail closed)");
        await drainLogs();
        resolve(0);
      };
      let left = workers.size;
      if (left === 0) void done();
      for (const w of workers.keys()) {
        w.once("exit", () => {
          left -= 1;
          if (left === 0) void done();
        });
        w.kill(signal);
      }
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return { exitCode };
}
