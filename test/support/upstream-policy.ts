// Policies the network-namespace tests apply. upstreamGetPolicy: pods labelled app=client may
// GET the given paths on app=upstream port 80, as an inline file for NetnsCluster.applyPolicies.
export function upstreamGetPolicy(name: string, paths: string[]): { name: string; text: string } {
  return {
    name: "policy.yaml",
    text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: upstream}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http:
${paths.map((p) => `              - {method: GET, path: "${p}"}`).join("\n")}
`,
  };
}

/**
 * For tests of one proxy on loopback (test/fixtures/e2e endpoints, every address app=local):
 * GET on `path` (an RE2 full match) to `port` is allowed, anything else there is denied.
 */
export function loopbackGetPolicy(port: number, path: string): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: local-l7, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: local}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: local}}]
      toPorts:
        - ports: [{port: "${port}", protocol: TCP}]
          rules: {http: [{method: GET, path: ${path}}]}
`;
}
