// The lifecycle of one proxy process: load policy, install interception rules, listen,
// serve the admin API, follow policy changes, and drain on SIGTERM/SIGINT.
//
// Readiness (/readyz) is true only when a policy snapshot is loaded, the interception rules
// are in place (or managed by someone else: --no-install-rules) and the listener is up.

import { Registry } from "prom-client";
import type { RunConfig } from "../config/run-config.js";
import { ProxyServer } from "../datapath/proxy-server.js";
import { installRules, updateEnforcedIps, type InterceptSpec } from "../intercept/rules.js";
import { enableListenerMigration } from "../intercept/listener-migration.js";
import { listenTransparent } from "../intercept/transparent-socket.js";
import type { PolicySnapshot } from "../policy/decision.js";
import { startAdminServer } from "../telemetry/admin-server.js";
import { createLogger } from "../telemetry/logger.js";
import { Telemetry } from "../telemetry/telemetry.js";
import { FileSource } from "./file-source.js";
import { startKubernetesSnapshotSource } from "./kubernetes/index.js";
import { SnapshotHolder } from "./snapshot-holder.js";

export function interceptSpecFor(config: RunConfig, snapshot: PolicySnapshot | null): InterceptSpec {
  const ips = snapshot?.enforcedIps() ?? { ingress: [], egress: [] };
  return {
    backend: config.rulesBackend,
    table: config.nftTable,
    proxyPort: config.proxyPort,
    mark: config.mark,
    routeTable: config.routeTable,
    ingressIps: ips.ingress,
    egressIps: ips.egress,
  };
}

export async function startProxy(config: RunConfig): Promise<{ exitCode: number }> {
  const logger = createLogger(config.logLevel);
  const holder = new SnapshotHolder();
  const registry = new Registry();
  const telemetry = new Telemetry({
    registry,
    logger,
    podLevelLabels: config.podLevelMetrics,
    flowSampleRate: config.flowSampleRate,
    deniedFlowMinRate: config.deniedFlowMinRate,
  });
  let rulesReady = !config.installRules;
  let listening = false;

  const admin =
    config.admin === null
      ? null
      : await startAdminServer({
          host: config.admin.host,
          port: config.admin.port,
          registry,
          flows: telemetry.flows,
          // Shared with SO_REUSEPORT like the proxy port, so a new process can start (and
          // answer its probes) while the old one drains.
          listen: async (server) => {
            await listenTransparent({ host: config.admin!.host, port: config.admin!.port, reusePort: true }, server);
          },
          health: {
            ready: () => holder.current !== null && rulesReady && listening,
            policyInfo: () => holder.info,
          },
        });

  const onLoad = (ok: boolean, revision: number, error?: string): void => telemetry.policyReload(ok, revision, error);
  let stopSource: () => Promise<void> | void;
  if (config.kubernetes) {
    if (config.nodeName === null) {
      logger.fatal("--kubernetes needs this node's name: --node-name or NODE_NAME (the downward API's spec.nodeName)");
      await admin?.close();
      return { exitCode: 2 };
    }
    const k8s = await startKubernetesSnapshotSource({ holder, logger, nodeName: config.nodeName, onLoad });
    stopSource = () => k8s.stop();
    // Until the first full sync there is nothing to enforce with: not ready, and any
    // interception rules left by a previous proxy keep refusing traffic (fail closed).
    if (holder.current === null) await new Promise((resolve) => holder.once("swap", resolve));
  } else {
    const files = new FileSource({ policies: config.policies, endpoints: config.endpoints, holder, logger, onLoad });
    const first = await files.load();
    if (!first.ok) {
      logger.fatal("no valid policy to enforce; fix the errors above (the interception rules, if installed, keep failing closed)");
      await admin?.close();
      return { exitCode: 1 };
    }
    await files.watch();
    stopSource = () => files.stop();
  }

  if (config.installRules) {
    await installRules(interceptSpecFor(config, holder.current));
    rulesReady = true;
    // Rules follow endpoint and policy changes: only enforced endpoints are redirected.
    holder.on("swap", (snapshot) => {
      updateEnforcedIps(interceptSpecFor(config, snapshot)).catch((err: unknown) =>
        logger.error({ err, code: "L7P_ERR_RULES" }, "updating interception rules failed"),
      );
    });
  }

  const migration = await enableListenerMigration();
  if (!migration.enabled) logger.warn({ reason: migration.reason }, "queued connections may be reset when an old proxy stops");
  // allowHalfOpen: a client that shuts down its sending side after its last request still
  // gets its answers (HTTP/1.0-style clients, `nc -q`), and relays keep TCP half-close.
  const server = await listenTransparent({
    host: config.proxyHost,
    port: config.proxyPort,
    reusePort: true,
    serverOptions: { allowHalfOpen: true },
  });
  const proxy = new ProxyServer(server, {
    holder,
    observer: telemetry,
    upstreamConnectTimeoutMs: config.upstreamConnectTimeoutMs,
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    maxHeaderBytes: config.maxHeaderBytes,
  });
  listening = true;
  logger.info({ port: config.proxyPort, admin: config.admin, revision: holder.current?.revision }, "l7proxy ready");

  const exitCode = await new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      logger.info({ signal, connections: proxy.connections }, "draining");
      void stopSource();
      listening = false;
      void proxy.drain(config.drainTimeoutMs).then(async ({ remaining }) => {
        // The interception rules stay: until a proxy listens again, traffic to enforced
        // endpoints is refused instead of bypassing policy.
        logger.info({ remaining }, "stopped; interception rules left in place (fail closed)");
        await admin?.close();
        resolve(0);
      });
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return { exitCode };
}
