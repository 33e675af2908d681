// The policy most network-namespace tests apply: pods labelled app=client may GET the given
// paths on app=upstream port 80. Returned as an inline file for NetnsCluster.applyPolicies.
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
