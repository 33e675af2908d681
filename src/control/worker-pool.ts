// --workers N: one primary and N worker processes. Each worker loads the policy itself and
// accepts on its own transparent SO_REUSEPORT socket, so the kernel spreads connections
// across cores with no hand-off between processes. The primary owns what must exist once per
// node: the interception rules and the admin API, whose /metrics sums the workers' registries
// and whose /flows shows the records the workers send it. A worker that dies is replaced;
// the port stays served by the others meanwhile.
//
// Workers are plain child processes (child_process.fork), not node:cluster workers: a
// cluster worker hands every listen() to the primary, which cannot share a socket that was
// created from a file descriptor (our transparent socket).

import { fork, type ChildProcess } from "node:child_process";
import { AggregatorRegistry, Registry } from "prom-client";
import type { RunConfig } from "../config/run-config.js";
import { WORKER_ENV } from "../config/run-config.js";
import { FlowRing } from "../telemetry/flow-ring.js";
import type { FlowRecord } from "../telemetry/flow-record.js";
import { createLogger } from "../telemetry/logger.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { keepRulesInstalled, startPolicySource, startProxy, startSharedAdmin } from "./proxy-process.js";
import { SnapshotHolder } from "./snapshot-holder.js";

/** One registry's metrics as getMetricsAsJSON() gives them (what aggregate() takes). */
type MetricsJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

type Message =
  | { type: "listening" }
  | { type: "flow"; record: FlowRecord }
  | { type: "metrics?"; id: number }
  | { type: "metrics"; id: number; metrics: MetricsJson };

/** In a worker: serve connections and report to the primary. */
export async function runWorker(config: RunConfig): Promise<{ exitCode: number }> {
  const send = (m: Message): void => {
    if (process.connected) process.send?.(m);
  };
  const result = await startProxy(config, "worker", {
    onListening: () => send({ type: "listening" }),
    telemetry: (t: Telemetry, registry: Registry) => {
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
  constructor(private readonly workers: () => ChildProcess[]) {
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

/** In the primary: rules, admin API, and the workers' lifecycle. */
export async function runWorkerPool(config: RunConfig, argv: readonly string[]): Promise<{ exitCode: number }> {
  const logger = createLogger(config.logLevel);
  const holder = new SnapshotHolder();
  const flows = new FlowRing(config.flowRingSize);
  const workers = new Map<ChildProcess, { listening: boolean }>();
  let rulesReady = !config.installRules;
  let stopping = false;

  const admin = await startSharedAdmin(config, new WorkersRegistry(() => [...workers.keys()]), flows, {
    ready: () => holder.current !== null && rulesReady && [...workers.values()].filter((w) => w.listening).length === config.workers,
    policyInfo: () => holder.info,
  });
  // The primary loads the policy too: the rules need the enforced endpoints, /policy shows it.
  const source = await startPolicySource(config, holder, logger, () => {});
  if ("exitCode" in source) {
    await admin?.close();
    return source;
  }
  if (config.installRules) {
    await keepRulesInstalled(config, holder, logger);
    rulesReady = true;
  }

  const start = (index: number): void => {
    const w = fork(process.argv[1]!, [...argv], {
      env: { ...process.env, [WORKER_ENV]: String(index) },
      execArgv: workerExecArgv(process.execArgv, config.semiSpaceMb),
      stdio: "inherit",
    });
    workers.set(w, { listening: false });
    w.on("message", (m: Message) => {
      if (m.type === "listening") workers.set(w, { listening: true });
      else if (m.type === "flow") flows.push(m.record);
    });
    w.once("exit", (code, signal) => {
      workers.delete(w);
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
      const done = async (): Promise<void> => {
        await source.stop();
        await admin?.close();
        logger.info("stopped; interception rules left in place (fail closed)");
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
