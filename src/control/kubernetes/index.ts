// Public surface of the Kubernetes source; see kubernetes-source.ts and docs/kubernetes.md.
export { startKubernetesSource, defaultKubeConfig, isLocalPod, POLICY_COLLECTIONS } from "./kubernetes-source.js";
export type { KubernetesSource, KubernetesSourceOptions } from "./kubernetes-source.js";
export type { KubernetesState, InvalidPolicy, KubeObject, PolicyConverter, SourceLogger } from "./types.js";
export { startKubernetesSnapshotSource, defaultKubernetesCompile } from "./kubernetes-snapshot-source.js";
export type { KubernetesSnapshotSourceOptions, KubernetesCompile } from "./kubernetes-snapshot-source.js";
