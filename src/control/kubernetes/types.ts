// Shapes shared by the Kubernetes source's files.

import type { LoadedPolicy } from "../../policy/api/types.js";

/** A Kubernetes object as JSON, as the API server sends it. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The subset of a pino logger the source uses (a pino Logger fits). */
export interface SourceLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Turns one policy object into a LoadedPolicy, or explains why it cannot. This is the policy
 * loader's `policyFromObject`; it is injected so this folder holds no policy parsing.
 * A result without `policy` means the object is invalid.
 */
export type PolicyConverter<D> = (obj: unknown, origin: string) => { policy?: LoadedPolicy; diagnostics: D[] };

/** A policy the cluster holds but that failed to load (its last good version, if any, is still enforced). */
export interface InvalidPolicy {
  /** "namespace/name", or "name" for cluster-wide policies. */
  ref: string;
  kind: string;
  uid: string;
  resourceVersion: string;
  messages: string[];
  /** True when an earlier valid version of this object is still being enforced. */
  lastGoodKept: boolean;
}

/** Everything the proxy needs from the cluster, handed over on every change. */
export interface KubernetesState {
  /**
   * False until every informer (policies, pods, namespaces, referenced secrets) finished its
   * first list. The proxy must report not ready and refuse traffic to enforced endpoints
   * while it is false (fail closed). Once true it stays true: later problems keep the last
   * known state rather than blocking the node.
   */
  synced: boolean;
  /** This node; pods whose spec.nodeName equals it are the ones this proxy enforces. */
  nodeName: string;
  /** Valid policies, plus the last good version of every policy whose current version is invalid. */
  policies: LoadedPolicy[];
  invalidPolicies: InvalidPolicy[];
  /** Every pod of the cluster (all feed identities); read-only JSON objects. */
  pods: readonly KubeObject[];
  namespaces: readonly KubeObject[];
  /** "namespace/name" -> the single value of each Secret that a headerMatches rule refers to. */
  secrets: ReadonlyMap<string, string>;
  /** Increases by one with every state handed over. */
  revision: number;
}
