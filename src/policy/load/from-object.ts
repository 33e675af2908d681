// Policies that arrive as JSON objects (the Kubernetes API) rather than text: same checks,
// no file positions.

import type { LoadedPolicy } from "../api/types.js";
import { buildPolicy } from "./build-policy.js";
import type { Diagnostic } from "./diagnostic.js";

export function policyFromObject(obj: unknown, origin: string): { policy?: LoadedPolicy; diagnostics: Diagnostic[] } {
  const outcome = buildPolicy(obj, origin, undefined);
  if (outcome.kind === "policy" && outcome.policy !== undefined) return { policy: outcome.policy, diagnostics: outcome.diagnostics };
  return { diagnostics: outcome.diagnostics };
}
