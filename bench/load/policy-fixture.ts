// The benchmark's policy and endpoints, written as ordinary files both proxies read: one
// CiliumNetworkPolicy selecting the upstream, allowing the client on port 80 with N HTTP rules.
//
// The traffic's allowed requests match the LAST rule (GET /public/...), and denied ones
// (GET /private/...) match none, so every request is checked against the whole rule set:
// the rule count is felt as it would be by the least lucky request.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const UPSTREAM_PORT = 80;
export const CLIENT_LABELS = { role: "bench-client" };
export const UPSTREAM_LABELS = { app: "bench-upstream" };

export const ALLOWED_PREFIX = "/public/";
export const DENIED_PREFIX = "/private/";

/** The HTTP rules: N-1 filler rules, then the one the allowed traffic hits. */
export function httpRules(count: number): Array<{ method: string; path: string }> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`rule count must be a positive integer, got ${count}`);
  const rules: Array<{ method: string; path: string }> = [];
  for (let i = 0; i < count - 1; i++) {
    // Half literal, half regex, with distinct prefixes, like a real API's routes.
    rules.push(i % 2 === 0 ? { method: "GET", path: `/api/v1/svc${i}/items` } : { method: "GET", path: `/api/v1/svc${i}/items/[0-9]+` });
  }
  rules.push({ method: "GET", path: `${ALLOWED_PREFIX}.*` });
  return rules;
}

/** Rule count 0: the port has no L7 rules, so l7proxy relays bytes (its bare relay cost) and HAProxy only checks the source. */
export function policyYaml(ruleCount: number): string {
  const rules =
    ruleCount === 0
      ? null
      : httpRules(ruleCount)
          .map((r) => `        - method: "${r.method}"\n          path: "${r.path}"`)
          .join("\n");
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: bench-upstream
  namespace: default
spec:
  description: "l7proxy benchmark: ${ruleCount} HTTP rule(s) on port ${UPSTREAM_PORT}"
  endpointSelector:
    matchLabels:
      app: ${UPSTREAM_LABELS.app}
  ingress:
  - fromEndpoints:
    - matchLabels:
        role: ${CLIENT_LABELS.role}
    toPorts:
    - ports:
      - port: "${UPSTREAM_PORT}"
        protocol: TCP
${rules === null ? "" : `      rules:\n        http:\n${rules}\n`}`;
}

export function endpointsYaml(clientIp: string, upstreamIp: string): string {
  return `namespaces:
  - name: default
    labels: {kubernetes.io/metadata.name: default}
endpoints:
  - name: bench-client
    namespace: default
    labels: {role: ${CLIENT_LABELS.role}}
    ips: [${clientIp}]
  - name: bench-upstream
    namespace: default
    labels: {app: ${UPSTREAM_LABELS.app}}
    ips: [${upstreamIp}]
`;
}

export interface PolicyFiles {
  /** Directory holding only the policy file (what `--policies` gets). */
  policyDir: string;
  policyFile: string;
  endpointsFile: string;
}

export async function writePolicyFiles(dir: string, ruleCount: number, clientIp: string, upstreamIp: string): Promise<PolicyFiles> {
  const policyDir = join(dir, `policy-${ruleCount}`);
  await mkdir(policyDir, { recursive: true });
  const policyFile = join(policyDir, "bench-policy.yaml");
  await writeFile(policyFile, policyYaml(ruleCount));
  const endpointsFile = join(dir, `endpoints-${clientIp}-${upstreamIp}.yaml`);
  await writeFile(endpointsFile, endpointsYaml(clientIp, upstreamIp));
  return { policyDir, policyFile, endpointsFile };
}
