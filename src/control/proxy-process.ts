// The lifecycle of a proxy process: load policy, install interception rules, listen, serve
// the admin API, follow policy changes, and drain on SIGTERM/SIGINT.
//
// Roles: "single" does everything in one process. With --workers N the primary
// (worker-pool.ts) owns the rules, the admin API, the UDP DNS proxy and the learned names,
// and each worker ("worker") loads the policy itself and serves connections (TCP DNS
// included) on its own SO_REUSEPORT socket, with a copy of the learned names (fqdn-sync.ts)
// and of the Kafka topic IDs every worker learned (topic-id-sync.ts).
//
// Readiness (/readyz) is true only when a policy snapshot is loaded, the interception rules
// are in place (or managed by someone else: --no-install-rules) and the listener is up.

import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import type { RunConfig } from "../config/run-config.js";
import type { FqdnRuntime } from "../datapath/connection-handler.js";
import type { TopicIdRuntime } from "../datapath/kafka/topic-ids.js";
import type { LearnedName } from "../datapath/dns/fqdn-cache.js";
import { NO_OBSERVER } from "../datapath/observer.js";
import { ProxyServer } from "../datapath/proxy-server.js";
import { enableListenerMigration } from "../intercept/listener-migration.js";
import { installRules, updateEnforcedIps, type InterceptSpec } from "../intercept/rules.js";
import { listenTransparent, listenTransparentAuto } from "../intercept/transparent-socket.js";
import type { PolicySnapshot } from "../policy/decision.js";
import { startAdminServer, type AdminServer } from "../telemetry/admin-server.js";
import type { FlowRing } from "../telemetry/flow-ring.js";
import type { L7ProxyMetrics } from "../telemetry/metrics.js";
import { createProxyLoggers, PIPE_BUF, SOLE_WRITER_BATCH_BYTES } from "../telemetry/logger.js";
import { Telemetry } from "../telemetry/telemetry.js";
import { FileSource } from "./file-source.js";
import { startDnsService } from "./dns-service.js";
import { FqdnLearner, holdMetrics, type FqdnHoldEvents } from "./fqdn-learning.js";
import { FqdnStateDir } from "./fqdn-state.js";
import { SnapshotHolder } from "./snapshot-holder.js";
import { startLocalTopicIds } from "./topic-id-persistence.js";

/** Below this an ordinary burst (a client pool of a few hundred connections opening at once) overflows the queue. */
const MIN_SAFE_BACKLOG = 1024;

/** This network namespace's net.core.somaxconn, the cap listen(2) puts on any backlog (null if unreadable). */
export function readSomaxconn(file = "/proc/sys/net/core/somaxconn"): number | null {
  try {
    const max = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(max) && max > 0 ? max : null;
  } catch {
    return null;
  }
}

/** A learned name as /policy lists it (as `cilium fqdn cache list`: name, IPs, expiry). */
export function formatLearned(n: LearnedName): { name: string; ips: { ip: string; expiresAt: string }[] } {
  return { name: n.name, ips: n.ips.map((e) => ({ ip: e.ip, expiresAt: new Date(e.expiresAtMs).toISOString() })) };
}

export function interceptSpecFor(config: RunConfig, snapshot: PolicySnapshot | null, learner: FqdnLearner | null = null): InterceptSpec {
  const ips = snapshot?.enforcedIps() ?? { ingress: [], egress: [] };
  const dns = dnsEnabled(config) ? { dnsProxyPort: config.dnsProxyPort, dnsRedirects: snapshot?.dnsRedirects() ?? [] } : {};
  return {
    backend: config.rulesBackend,
    table: config.nftTable,
    proxyPort: config.proxyPort,
    mark: config.mark,
    routeTable: config.routeTable,
    excludeMark: config.upstreamMark,
    ingressIps: ips.ingress,
    egressIps: ips.egress,
    // UDP/SCTP are enforced by the kernel itself; without a snapshot nothing is allowed.
    nonTcp: snapshot?.nonTcpPolicy(learner?.fqdnIps) ?? { endpointIps: [], allow: [], deny: [] },
    ...dns,
  };
}

/** The DNS proxy runs unless turned off (with --workers, in the primary: worker-pool.ts). */
export function dnsEnabled(config: RunConfig): boolean {
  return config.dnsProxyPort !== 0;
}

/** The answer-hold metrics of a process's telemetry. */
export function fqdnHoldMetrics(metrics: L7ProxyMetrics): FqdnHoldEvents {
  return holdMetrics({ seconds: metrics.fqdnAnswerHoldSeconds.bind(), timeouts: metrics.fqdnAnswerHoldTimeoutsTotal.bind() });
}

/** The node's learned-name cache, restored from --state-dir before the proxy is ready. */
export function startFqdnLearner(
  config: RunConfig,
  holder: SnapshotHolder,
  logger: Logger,
  managesRules: boolean,
  publish: ((names: LearnedName[]) => Promise<void>) | null = null,
  holds: FqdnHoldEvents | null = null,
): FqdnLearner {
  const learner: FqdnLearner = new FqdnLearner({
    minTtlSeconds: config.fqdnMinTtl,
    maxIpsPerName: config.fqdnMaxIpsPerName,
    holdMs: config.fqdnMaxHoldMs,
    snapshot: () => holder.current,
    state: config.stateDir === null ? null : new FqdnStateDir(config.stateDir),
    applyDatagramRules: managesRules ? () => updateEnforcedIps(interceptSpecFor(config, holder.current, learner)) : null,
    publish,
    holds,
    logger,
  });
  learner.restore();
  return learner;
}

type OnLoad = (ok: boolean, revision: number, error?: string) => void;

/**
 * Starts the configured policy source and waits for its first snapshot. With files, an
 * invalid first load is fatal (exit 1); with Kubernetes, the wait lasts until the first full
 * sync (not ready meanwhile; rules left by a previous proxy keep failing closed).
 */
export async function startPolicySource(
  config: RunConfig,
  holder: SnapshotHolder,
  logger: Logger,
  onLoad: OnLoad,
): Promise<{ stop: () => Promise<void> | void } | { exitCode: number }> {
  if (config.kubernetes) {
    if (config.nodeName === null) {
      logger.fatal("--kubernetes needs this node's name: --node-name or NODE_NAME (the downward API's spec.nodeName)");
      return { exitCode: 2 };
    }
    // Loaded only here: the Kubernetes client alone adds ~80 MB to the resident set of a
    // proxy that reads policy files.
    const { startKubernetesSnapshotSource } = await import("./kubernetes/index.js");
    const k8s = await startKubernetesSnapshotSource({ holder, logger, nodeName: config.nodeName, onLoad });
    if (holder.current === null) await new Promise((resolve) => holder.once("swap", resolve));
    return { stop: () => k8s.stop() };
  }
  const files = new FileSource({ policies: config.policies, endpoints: config.endpoints, nodeName: config.nodeName, holder, logger, onLoad });
  const first = await files.load();
  if (!first.ok) {
    logger.fatal("no valid policy to enforce; fix the errors above (the interception rules, if installed, keep failing closed)");
    return { exitCode: 1 };
  }
  await files.watch();
  return { stop: () => files.stop() };
}

/** Installs the rules for the current snapshot and keeps them following policy changes. */
export async function keepRulesInstalled(config: RunConfig, holder: SnapshotHolder, logger: Logger, learner: FqdnLearner | null = null): Promise<void> {
  const report = await installRules(interceptSpecFor(config, holder.current, learner));
  for (const warning of report.warnings) logger.warn(warning);
  // Only enforced endpoints are redirected, so the sets change with endpoints and policies.
  holder.on("swap", (snapshot) => {
    updateEnforcedIps(interceptSpecFor(config, snapshot, learner)).catch((err: unknown) =>
      logger.error({ err, code: "L7P_ERR_RULES" }, "updating interception rules failed"),
    );
  });
}

/** The admin API on a port shared with SO_REUSEPORT, so an old and a new process can both serve it during a restart. */
export function startSharedAdmin(
  config: RunConfig,
  registry: Registry,
  flows: FlowRing,
  health: { ready(): boolean; policyInfo(): SnapshotHolder["info"] },
): Promise<AdminServer | null> {
  const admin = config.admin;
  if (admin === null) return Promise.resolve(null);
  return startAdminServer({
    host: admin.host,
    port: admin.port,
    registry,
    flows,
    listen: async (server) => {
      await listenTransparent({ host: admin.host, port: admin.port, reusePort: true }, server);
    },
    health: {
      ready: () => health.ready(),
      policyInfo: () => ({ ...health.policyInfo(), policyAuditMode: config.policyAuditMode }),
    },
    ...(config.policyAuditMode ? { readyNote: "policy audit mode: what policy denies is forwarded and recorded as AUDIT" } : {}),
  });
}

export interface ProxyRoleHooks {
  /** Workers: called once listening, and with every flow record (the primary serves /flows). */
  onListening?: () => void;
  telemetry?: (t: Telemetry, registry: Registry) => void;
  /** Workers: the learned names come from the primary (fqdn-replica.ts), in before listening. */
  fqdn?: (logger: Logger) => Promise<FqdnRuntime & { close(): void }>;
  /** Workers: the Kafka topic IDs, shared with the other workers (topic-id-sync.ts), in before listening. */
  kafkaTopicIds?: (logger: Logger) => Promise<TopicIdRuntime & { close(): void }>;
}

/**
 * A process's loggers, metrics registry and telemetry, with dropped log lines counted.
 * `batchBytes`: a process sharing stderr with others writes whole lines of at most PIPE_BUF.
 */
export function createProcessTelemetry(config: RunConfig, batchBytes: number, processMetrics = true) {
  let telemetry: Telemetry | null = null;
  const { logger, flowLog, drain: drainLogs } = createProxyLoggers(config.logLevel, 2, batchBytes, (n) => telemetry?.logLinesDropped(n));
  const registry = new Registry();
  telemetry = new Telemetry({
    registry,
    logger,
    flowLog,
    podLevelLabels: config.podLevelMetrics,
    flowSampleRate: config.flowSampleRate,
    deniedFlowMinRate: config.deniedFlowMinRate,
    ringSize: config.flowRingSize,
    ...(processMetrics ? {} : { processMetrics: false }),
  });
  return { logger, flowLog, drainLogs, registry, telemetry };
}

export async function startProxy(config: RunConfig, role: "single" | "worker" = "single", hooks: ProxyRoleHooks = {}): Promise<{ exitCode: number }> {
  // Workers share stderr with each other and the primary: their writes must stay whole.
  const { logger, drainLogs, registry, telemetry } = createProcessTelemetry(config, role === "single" ? SOLE_WRITER_BATCH_BYTES : PIPE_BUF);
  const holder = new SnapshotHolder();
  hooks.telemetry?.(telemetry, registry);
  const managesRules = role === "single" && config.installRules;
  let fqdnLearner: FqdnLearner | null = null;
  let rulesReady = !managesRules;
  let listening = false;

  const admin =
    role === "single"
      ? await startSharedAdmin(config, registry, telemetry.flows, {
          ready: () => holder.current !== null && rulesReady && listening,
          policyInfo: () => ({ ...holder.info, fqdn: fqdnLearner?.list().map(formatLearned) ?? [] }),
        })
      : null;

  const source = await startPolicySource(config, holder, logger, (ok, revision, error) => telemetry.policyReload(ok, revision, error));
  if ("exitCode" in source) {
    await admin?.close();
    return source;
  }
  const learner = hooks.fqdn !== undefined ? await hooks.fqdn(logger) : startFqdnLearner(config, holder, logger, managesRules, null, fqdnHoldMetrics(telemetry.metrics));
  // A worker's come from the primary; a single process keeps its own, in --state-dir.
  const kafkaTopicIds = hooks.kafkaTopicIds !== undefined ? await hooks.kafkaTopicIds(logger) : startLocalTopicIds(config.stateDir, logger);
  if (hooks.kafkaTopicIds === undefined) {
    // (A worker's copy is not counted: the primary counts the node's IDs once.)
    const gauge = setInterval(() => telemetry.metrics.kafkaTopicIds.bind().set(kafkaTopicIds.table.size), 1000);
    gauge.unref();
  }
  if (learner instanceof FqdnLearner) {
    fqdnLearner = learner;
    // (A worker's copy is not counted: the primary counts the node's names once.)
    const gauges = setInterval(() => {
      telemetry.metrics.fqdnLearnedNames.bind().set(learner.cache.names);
      telemetry.metrics.fqdnLearnedIps.bind().set(learner.cache.ips);
    }, 1000);
    gauges.unref();
  }
  if (managesRules) {
    await keepRulesInstalled(config, holder, logger, fqdnLearner);
    rulesReady = true;
  }

  const migration = await enableListenerMigration();
  if (!migration.enabled) logger.warn({ reason: migration.reason }, "queued connections may be reset when an old proxy stops");
  // allowHalfOpen: a client that shuts down its sending side after its last request still
  // gets its answers (HTTP/1.0-style clients, `nc -q`), and relays keep TCP half-close.
  const listenOptions = {
    port: config.proxyPort,
    reusePort: true,
    // A burst of new connections larger than the accept queue loses SYNs, which clients
    // retry only after a second: by default the kernel's limit (net.core.somaxconn) decides.
    backlog: config.listenBacklog,
    serverOptions: { allowHalfOpen: true },
  };
  const server =
    config.proxyHost === "auto"
      ? (await listenTransparentAuto(listenOptions, (reason) => logger.info({ reason }, "no IPv6 on this host: the proxy port listens on 0.0.0.0 (IPv4 only)"))).server
      : await listenTransparent({ ...listenOptions, host: config.proxyHost });
  const somaxconn = readSomaxconn();
  const backlog = somaxconn === null ? config.listenBacklog : Math.min(config.listenBacklog, somaxconn);
  if (somaxconn !== null && somaxconn < MIN_SAFE_BACKLOG && config.listenBacklog > somaxconn) {
    logger.warn({ somaxconn, requested: config.listenBacklog }, "net.core.somaxconn caps the accept queue: bursts of new connections lose SYNs and wait a second for the retry; raise net.core.somaxconn");
  }
  // (In plain mode (--upstream) the socket is transparent all the same; that only matters
  // for connections the kernel redirects, and none are.)
  const observer = config.telemetry ? telemetry : NO_OBSERVER;
  const proxy = new ProxyServer(server, { holder, observer, config, fqdn: learner, kafkaTopicIds });
  // With --workers the primary serves UDP DNS; workers get DNS over TCP on the proxy port.
  const dns = role === "single" && dnsEnabled(config) && fqdnLearner !== null ? startDnsService(config, holder, fqdnLearner, observer, telemetry.metrics, logger) : null;
  listening = true;
  hooks.onListening?.();
  logger.info({ port: config.proxyPort, admin: config.admin, revision: holder.current?.revision, role, policyAuditMode: config.policyAuditMode, backlog }, "l7proxy ready");

  const exitCode = await new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      logger.info({ signal, connections: proxy.connections }, "draining");
      void source.stop();
      listening = false;
      // Closing the DNS sockets hands their port to a new process sharing it (SO_REUSEPORT).
      dns?.close();
      void proxy.drain(config.drainTimeoutMs).then(async ({ remaining }) => {
        learner.close();
        kafkaTopicIds.close();
        // The interception rules stay: until a proxy listens again, traffic to enforced
        // endpoints is refused instead of bypassing policy.
        logger.info({ remaining }, "stopped; interception rules left in place (fail closed)");
        await admin?.close();
        await drainLogs();
        resolve(0);
      });
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return { exitCode };
}
