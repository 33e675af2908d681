// The policy converter the Kubernetes source tests use: the project's real loader
// (src/policy/load, `policyFromObject` + `formatDiagnostic`) when it is present. Until that
// module lands, a deliberately tiny stand-in is used that only knows what these tests need:
// it accepts a Cilium or Kubernetes policy object and rejects a port above 65535. The tests'
// invalid policy uses exactly that mistake, which the real loader rejects too.

import type { LoadedPolicy, Rule, NetworkPolicySpec } from "../../src/policy/api/types.js";
import type { PolicyConverter } from "../../src/control/kubernetes/types.js";

export interface TestConverter {
  convert: PolicyConverter<unknown>;
  format(d: unknown): string;
  real: boolean;
}

interface StandInDiagnostic {
  path: string;
  message: string;
}

export async function loadPolicyConverter(): Promise<TestConverter> {
  const loaderPath = "../../src/policy/load/index.js";
  try {
    const mod = (await import(loaderPath)) as {
      policyFromObject?: PolicyConverter<unknown>;
      formatDiagnostic?: (d: unknown) => string;
    };
    if (typeof mod.policyFromObject === "function" && typeof mod.formatDiagnostic === "function") {
      return { convert: mod.policyFromObject, format: mod.formatDiagnostic, real: true };
    }
  } catch {
    // not there yet
  }
  return { convert: standInConvert, format: (d) => `${(d as StandInDiagnostic).path}: ${(d as StandInDiagnostic).message}`, real: false };
}

function standInConvert(obj: unknown, origin: string): { policy?: LoadedPolicy; diagnostics: StandInDiagnostic[] } {
  const o = obj as { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown; specs?: unknown[] };
  const diagnostics: StandInDiagnostic[] = [];
  const visit = (v: unknown, path: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${path}[${i}]`));
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "port" && Number(x) > 65535) diagnostics.push({ path: `${path}.port`, message: `port ${String(x)} is out of range` });
        visit(x, `${path}.${k}`);
      }
    }
  };
  visit(o.spec, "spec");
  visit(o.specs, "specs");
  if (diagnostics.length > 0) return { diagnostics };
  const base = { name: o.metadata.name, namespace: o.metadata.namespace ?? "", source: { file: origin, line: 1, col: 1 } };
  if (o.kind === "NetworkPolicy") return { policy: { ...base, kind: "NetworkPolicy", spec: o.spec as NetworkPolicySpec }, diagnostics };
  const rules = [...(o.spec ? [o.spec as Rule] : []), ...((o.specs ?? []) as Rule[])];
  return { policy: { ...base, kind: o.kind as "CiliumNetworkPolicy", rules }, diagnostics };
}
