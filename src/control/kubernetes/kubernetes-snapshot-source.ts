// The Kubernetes source wired to the snapshot holder, the counterpart of ../file-source.ts for
// `l7proxy run --kubernetes`: every complete state from the API becomes a compiled snapshot
// swapped into the holder.
//
// - Until the first full sync nothing is swapped in: the holder stays empty, so the proxy
//   reports not ready and refuses traffic to enforced endpoints (fail closed).
// - Every pod of the cluster is an identity, but the snapshot handed to the holder reports
//   only this node's pods in enforcedIps(): the interception rules redirect the traffic of
//   local pods, and each node enforces its own.
// - Invalid policies were already reported (log + Event) by the source; the holder's
//   lastError names them while the rest is enforced.

import type { Logger } from "pino";
import type { KubeConfig } from "@kubernetes/client-node";
import { compilePolicies } from "../../policy/compile/index.js";
import type { NonTcpPolicy, PolicySnapshot } from "../../policy/decision.js";
import { inventoryFromKubernetesObjects } from "../../policy/endpoints/kubernetes-objects.js";
import { policyRef } from "../../policy/api/types.js";
import { canonicalIp } from "../../policy/net/ip.js";
import { formatDiagnostic, policyFromObject } from "../../policy/load/index.js";
import type { SnapshotHolder } from "../snapshot-holder.js";
import { isLocalPod, startKubernetesSource, type KubernetesSource, type KubernetesSourceOptions } from "./kubernetes-source.js";
import type { KubernetesState } from "./types.js";

export type KubernetesCompile = (state: KubernetesState, revision: number) => { snapshot: PolicySnapshot; warnings: string[] };

export interface KubernetesSnapshotSourceOptions {
  holder: SnapshotHolder;
  logger: Logger;
  nodeName: string;
  kubeConfig?: KubeConfig;
  /** Called after every compile attempt, for metrics (same as FileSource's). */
  onLoad?: (ok: boolean, revision: number, error?: string) => void;
  /** Called with every state, synced or not (readiness, admin API). */
  onState?: (state: KubernetesState) => void;
  /**
   * Builds a snapshot from a state. The default compiles the policies against an inventory of
   * every pod and namespace, with the values of the Secrets that headerMatches name.
   */
  compile?: KubernetesCompile;
  /** Tuning passed through to startKubernetesSource (debounce, backoff, events). */
  tuning?: Pick<KubernetesSourceOptions<unknown>, "debounceMs" | "maxDelayMs" | "recordEvents" | "backoff">;
}

// The source hands over a new state when a referenced Secret changes, so a rotation compiles
// a new snapshot whose matches use the new value (and no longer the old one).
export const defaultKubernetesCompile: KubernetesCompile = (state, revision) =>
  compilePolicies(state.policies, inventoryFromKubernetesObjects([...state.pods], [...state.namespaces]), {
    revision,
    secrets: state.secrets,
    nodeName: state.nodeName,
  });

export async function startKubernetesSnapshotSource(opts: KubernetesSnapshotSourceOptions): Promise<KubernetesSource> {
  const compile = opts.compile ?? defaultKubernetesCompile;
  let revision = 0;
  let waitingLogged = false;
  return startKubernetesSource({
    ...(opts.kubeConfig ? { kubeConfig: opts.kubeConfig } : {}),
    ...opts.tuning,
    nodeName: opts.nodeName,
    convertPolicy: policyFromObject,
    formatDiagnostic,
    logger: opts.logger,
    onUpdate: (state) => {
      opts.onState?.(state);
      if (!state.synced) {
        if (!waitingLogged) opts.logger.info({}, "waiting for the first full sync with the Kubernetes API; failing closed until then");
        waitingLogged = true;
        return;
      }
      revision += 1;
      let result: ReturnType<KubernetesCompile>;
      try {
        result = compile(state, revision);
      } catch (err) {
        const message = `compiling the Kubernetes state failed: ${err instanceof Error ? err.message : String(err)}`;
        opts.holder.rejected(message);
        opts.logger.error({ code: "L7P_ERR_INTERNAL" }, message);
        opts.onLoad?.(false, opts.holder.current?.revision ?? 0, message);
        return;
      }
      for (const w of result.warnings) opts.logger.warn({}, w);
      opts.holder.swap(
        localOnly(result.snapshot, state),
        state.policies.map((p) => ({ ref: policyRef(p), kind: p.kind, source: p.source.file })),
      );
      if (state.invalidPolicies.length > 0) {
        opts.holder.rejected(state.invalidPolicies.map((p) => `${p.kind} ${p.ref}: ${p.messages.join("; ")}`).join("\n"));
      }
      opts.logger.info(
        { revision: result.snapshot.revision, policies: state.policies.length, invalid: state.invalidPolicies.length, pods: state.pods.length },
        "policy snapshot loaded from Kubernetes",
      );
      opts.onLoad?.(true, result.snapshot.revision);
    },
  });
}

/** The snapshot, with enforcedIps() narrowed to the IPs of pods scheduled on this node. */
function localOnly(s: PolicySnapshot, state: KubernetesState): PolicySnapshot {
  const local = new Set<string>();
  const add = (ip: unknown): void => {
    const c = typeof ip === "string" ? canonicalIp(ip) : undefined;
    if (c !== undefined) local.add(c);
  };
  for (const pod of state.pods) {
    if (!isLocalPod(pod, state.nodeName)) continue;
    const status = pod.status as { podIP?: unknown; podIPs?: { ip?: unknown }[] } | undefined;
    add(status?.podIP);
    for (const e of status?.podIPs ?? []) add(e.ip);
  }
  const enforced = s.enforcedIps();
  const isLocal = (ip: string): boolean => local.has(canonicalIp(ip) ?? ip);
  const narrowed = { ingress: enforced.ingress.filter(isLocal), egress: enforced.egress.filter(isLocal) };
  let nonTcp: NonTcpPolicy | undefined;
  return {
    revision: s.revision,
    decideFlow: (q) => s.decideFlow(q),
    decideHttp: (f, q, r) => s.decideHttp(f, q, r),
    decideKafka: (f, q, r) => s.decideKafka(f, q, r),
    decideDns: (f, q, r) => s.decideDns(f, q, r),
    enforcedIps: () => narrowed,
    // Peers stay cluster-wide (endpointIps); only the rules of local addresses are this node's.
    nonTcpPolicy: (fqdnIps) => {
      if (fqdnIps !== undefined && s.hasDatagramFqdnPeers()) {
        const p = s.nonTcpPolicy(fqdnIps);
        return { endpointIps: p.endpointIps, allow: p.allow.filter((r) => isLocal(r.ip)), deny: p.deny.filter((r) => isLocal(r.ip)) };
      }
      if (nonTcp === undefined) {
        const p = s.nonTcpPolicy();
        nonTcp = { endpointIps: p.endpointIps, allow: p.allow.filter((r) => isLocal(r.ip)), deny: p.deny.filter((r) => isLocal(r.ip)) };
      }
      return { endpointIps: [...nonTcp.endpointIps], allow: [...nonTcp.allow], deny: [...nonTcp.deny] };
    },
    hasDatagramFqdnPeers: () => s.hasDatagramFqdnPeers(),
    dnsRedirects: () => s.dnsRedirects().filter((r) => isLocal(r.ip)),
  };
}
