// The Kubernetes source wired to the snapshot holder, the counterpart of ../file-source.ts for
// `l7proxy run --kubernetes`: every complete state from the API becomes a compiled snapshot
// swapped into the holder.
//
// - Until the first full sync nothing is swapped in: the holder stays empty, so the proxy
//   reports not ready and refuses traffic to enforced endpoints (fail closed).
// - Every pod of the cluster is an identity, but only this node's pods are enforced (the
//   compile's nodeName): the interception rules redirect the traffic of local pods, each
//   node decides its own pods' sides, and a pod on another node is decided there. (A pod
//   not scheduled yet has no nodeName and counts as local, but it has no IP to enforce.)
// - Invalid policies were already reported (log + Event) by the source; the holder's
//   lastError names them while the rest is enforced.

import type { Logger } from "pino";
import type { KubeConfig } from "@kubernetes/client-node";
import { compilePolicies } from "../../policy/compile/index.js";
import type { PolicySnapshot } from "../../policy/decision.js";
import { inventoryFromKubernetesObjects } from "../../policy/endpoints/kubernetes-objects.js";
import { policyRef } from "../../policy/api/types.js";
import { formatDiagnostic, policyFromObject } from "../../policy/load/index.js";
import type { SnapshotHolder } from "../snapshot-holder.js";
import { startKubernetesSource, type KubernetesSource, type KubernetesSourceOptions } from "./kubernetes-source.js";
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
        result.snapshot,
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
