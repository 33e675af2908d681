// The Kubernetes source: follows policies, pods, namespaces and the Secrets that policies
// refer to, and hands the proxy a complete state after every change.
//
//   startKubernetesSource({ nodeName, convertPolicy, formatDiagnostic, onUpdate, logger })
//     -> informers (list+watch, relist on 410 Gone, retry with backoff)
//     -> PolicyTracker (uid -> valid policy, or last good one + Event on the bad version)
//     -> debounced onUpdate(state)   (state.synced false until every first list is in)
//
// onUpdate receives the whole state each time, not a delta, so the consumer compiles a fresh
// snapshot and swaps it in; a missed callback can never leave it inconsistent.

import { KubeConfig } from "@kubernetes/client-node";
import { invalidPolicyEvent, postEvent } from "./policy-events.js";
import { PolicyTracker } from "./policy-tracker.js";
import { ResourceInformer } from "./resource-informer.js";
import { secretRefsOf, secretValue } from "./secret-refs.js";
import type { KubeObject, KubernetesState, PolicyConverter, SourceLogger } from "./types.js";

export interface KubernetesSourceOptions<D> {
  /** Defaults to KUBECONFIG / ~/.kube/config, or the in-cluster service account. */
  kubeConfig?: KubeConfig;
  /** This node's name (the DaemonSet sets NODE_NAME from spec.nodeName). */
  nodeName: string;
  /** The policy loader's policyFromObject. */
  convertPolicy: PolicyConverter<D>;
  /** The policy loader's formatDiagnostic; its text goes into logs and Events. */
  formatDiagnostic(d: D): string;
  onUpdate(state: KubernetesState): void;
  logger: SourceLogger;
  /** Quiet period before a change is handed over (default 150 ms). */
  debounceMs?: number;
  /** Longest a steady stream of changes may delay a hand-over (default 500 ms). */
  maxDelayMs?: number;
  /** Post Events for invalid policies (default true). */
  recordEvents?: boolean;
  /** Retry delays after list/watch errors (default 200 ms doubling to 30 s). */
  backoff?: { initialMs: number; maxMs: number };
}

export interface KubernetesSource {
  /** The state as of now (the same object the last onUpdate got, or a fresh one before any). */
  current(): KubernetesState;
  /** Resolves once synced (every first list done); rejects after timeoutMs. */
  waitForSync(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

interface Collection {
  path: string;
  apiVersion: string;
  kind: string;
  emptyOnStatus?: readonly number[];
}

export const POLICY_COLLECTIONS: readonly Collection[] = [
  { path: "/apis/cilium.io/v2/ciliumnetworkpolicies", apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", emptyOnStatus: [404] },
  { path: "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies", apiVersion: "cilium.io/v2", kind: "CiliumClusterwideNetworkPolicy", emptyOnStatus: [404] },
  { path: "/apis/networking.k8s.io/v1/networkpolicies", apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" },
];
const PODS: Collection = { path: "/api/v1/pods", apiVersion: "v1", kind: "Pod" };
const NAMESPACES: Collection = { path: "/api/v1/namespaces", apiVersion: "v1", kind: "Namespace" };

export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export async function startKubernetesSource<D>(opts: KubernetesSourceOptions<D>): Promise<KubernetesSource> {
  const kc = opts.kubeConfig ?? defaultKubeConfig();
  const log = opts.logger;
  const debounceMs = opts.debounceMs ?? 150;
  const maxDelayMs = opts.maxDelayMs ?? 500;
  const recordEvents = opts.recordEvents ?? true;

  let stopped = false;
  let everSynced = false;
  let revision = 0;
  let last: KubernetesState | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  let firstPendingAt: number | undefined;
  const syncWaiters = new Set<() => void>();

  const tracker = new PolicyTracker<D>({
    convert: opts.convertPolicy,
    format: opts.formatDiagnostic,
    onInvalid: (obj, messages, lastGoodKept) => {
      log.error(
        { kind: obj.kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name, resourceVersion: obj.metadata?.resourceVersion, messages, lastGoodKept },
        lastGoodKept ? "invalid policy update ignored; the last good version stays enforced" : "invalid policy not loaded",
      );
      if (!recordEvents) return;
      postEvent(kc, invalidPolicyEvent(obj, messages, opts.nodeName, new Date())).catch((err: unknown) =>
        log.warn({ name: obj.metadata?.name, err: err instanceof Error ? err.message : String(err) }, "could not record a Kubernetes Event"),
      );
    },
    onWarnings: (obj, messages) =>
      log.warn({ kind: obj.kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name, messages }, "policy loaded with warnings"),
  });

  const common = { kubeConfig: kc, logger: log, ...(opts.backoff ? { backoff: opts.backoff } : {}) };

  const policyInformers = POLICY_COLLECTIONS.map(
    (c) =>
      new ResourceInformer({
        ...common,
        ...c,
        onEvent: (type, obj) => {
          if (type === "delete") tracker.remove(obj);
          else tracker.upsert(obj);
          schedule();
        },
        onListed: schedule,
      }),
  );
  const podInformer = new ResourceInformer({ ...common, ...PODS, onEvent: schedule, onListed: schedule });
  const nsInformer = new ResourceInformer({ ...common, ...NAMESPACES, onEvent: schedule, onListed: schedule });
  const coreInformers = [...policyInformers, podInformer, nsInformer];

  // One narrow informer per referenced Secret (fieldSelector metadata.name): only those
  // Secrets are read, cluster RBAC can pin them with resourceNames, and rotations are seen live.
  const secretInformers = new Map<string, ResourceInformer>();
  const reportedSecretProblems = new Set<string>();

  function reconcileSecrets(): void {
    if (stopped) return;
    const { refs, problems } = secretRefsOf(tracker.effective());
    for (const p of problems) {
      if (reportedSecretProblems.has(p)) continue;
      reportedSecretProblems.add(p);
      log.warn({ problem: p }, "secret reference cannot be resolved; the header match will fail");
    }
    for (const [ref, inf] of secretInformers) {
      if (refs.has(ref)) continue;
      secretInformers.delete(ref);
      void inf.stop();
    }
    for (const ref of refs) {
      if (secretInformers.has(ref)) continue;
      const [ns, name] = splitRef(ref);
      const inf = new ResourceInformer({
        ...common,
        path: `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`,
        apiVersion: "v1",
        kind: "Secret",
        fieldSelector: `metadata.name=${name}`,
        emptyOnStatus: [403],
        onEvent: schedule,
        onListed: schedule,
      });
      secretInformers.set(ref, inf);
      inf.start();
    }
  }

  function secretsMap(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [ref, inf] of secretInformers) {
      const obj = inf.list()[0];
      if (obj === undefined) continue;
      const v = secretValue(obj);
      if ("value" in v) out.set(ref, v.value);
      else log.warn({ secret: ref, problem: v.error }, "secret cannot be used as a header value");
    }
    return out;
  }

  function isSynced(): boolean {
    if (everSynced) return true;
    everSynced = coreInformers.every((i) => i.listed) && [...secretInformers.values()].every((i) => i.listed);
    return everSynced;
  }

  function build(): KubernetesState {
    return {
      synced: isSynced(),
      nodeName: opts.nodeName,
      policies: tracker.effective(),
      invalidPolicies: tracker.invalid(),
      pods: podInformer.list(),
      namespaces: nsInformer.list(),
      secrets: secretsMap(),
      revision: ++revision,
    };
  }

  function emit(): void {
    debounceTimer = undefined;
    firstPendingAt = undefined;
    if (stopped) return;
    // Once per batch, not per policy event: an initial list of many policies stays linear.
    reconcileSecrets();
    const state = build();
    last = state;
    try {
      opts.onUpdate(state);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, "the Kubernetes state consumer failed");
    }
    if (state.synced) {
      for (const w of syncWaiters) w();
      syncWaiters.clear();
    }
  }

  function schedule(): void {
    if (stopped) return;
    const now = Date.now();
    firstPendingAt ??= now;
    if (debounceTimer) clearTimeout(debounceTimer);
    const wait = Math.max(0, Math.min(debounceMs, firstPendingAt + maxDelayMs - now));
    debounceTimer = setTimeout(emit, wait);
  }

  log.info({ nodeName: opts.nodeName, server: kc.getCurrentCluster()?.server }, "watching the Kubernetes API");
  for (const inf of coreInformers) inf.start();

  return {
    current: () => last ?? build(),
    waitForSync(timeoutMs: number): Promise<void> {
      if (last?.synced) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          syncWaiters.delete(done);
          reject(new Error(`the Kubernetes API did not sync within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        syncWaiters.add(done);
      });
    },
    async stop(): Promise<void> {
      stopped = true;
      if (debounceTimer) clearTimeout(debounceTimer);
      await Promise.all([...coreInformers, ...secretInformers.values()].map((i) => i.stop()));
      secretInformers.clear();
    },
  };
}

function splitRef(ref: string): [string, string] {
  const i = ref.indexOf("/");
  return [ref.slice(0, i), ref.slice(i + 1)];
}

/** True for a pod this node enforces: it is scheduled here. */
export function isLocalPod(pod: KubeObject, nodeName: string): boolean {
  const spec = pod.spec as { nodeName?: unknown } | undefined;
  return spec?.nodeName === nodeName;
}
