// Test helpers for the policy engine: policies from YAML text through the real loader, an
// inventory from a compact description, and request facts for the matchers.

import type { LoadedPolicy } from "../../src/policy/api/types.js";
import { compilePolicies, type CompileResult } from "../../src/policy/compile/index.js";
import type { FlowQuery, HttpRequestFacts, Protocol } from "../../src/policy/decision.js";
import { parseEndpointsText } from "../../src/policy/endpoints/load-endpoints.js";
import type { EndpointInventory } from "../../src/policy/endpoints/types.js";
import { formatDiagnostic, parsePolicyText } from "../../src/policy/load/index.js";

/** Policies from YAML; any error diagnostic fails the test, as a typo would. */
export function policiesFromYaml(text: string, file = "policy.yaml"): LoadedPolicy[] {
  const r = parsePolicyText(text, file);
  const errors = r.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(errors.map(formatDiagnostic).join("\n"));
  return r.policies;
}

export function inventoryFromYaml(text: string): EndpointInventory {
  return parseEndpointsText(text, "endpoints.yaml");
}

export function compileYaml(policies: string, endpoints: string | EndpointInventory, revision = 1, nodeName?: string): CompileResult {
  const inv = typeof endpoints === "string" ? inventoryFromYaml(endpoints) : endpoints;
  return compilePolicies(policiesFromYaml(policies), inv, nodeName === undefined ? { revision } : { revision, nodeName });
}

export function flow(srcIp: string, dstIp: string, dstPort: number, protocol: Protocol = "TCP", fqdnIps?: Record<string, string[]>): FlowQuery {
  const q: FlowQuery = { srcIp, dstIp, dstPort, protocol };
  if (fqdnIps !== undefined) q.fqdnIps = new Map(Object.entries(fqdnIps));
  return q;
}

export function httpRequest(method: string, path: string, headers: Record<string, string> = {}, host = "service"): HttpRequestFacts {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, path, host, header: (n) => lower.get(n) };
}
