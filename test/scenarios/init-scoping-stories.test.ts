// Policies whose endpointSelector mentions `reserved:init` (typically `DoesNotExist`, to leave
// initialising endpoints out). Cilium still confines a namespaced policy's peers to the
// policy's namespace; only a cluster-wide policy skips the "peer must be a pod" requirement
// when its subject can select init endpoints (getEndpointSelector, matchesInit).

import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/policy/compile/index.js";
import { compileYaml, flow, inventoryFromYaml, policiesFromYaml } from "../support/policy-fixtures.js";

const endpoints = `
namespaces:
  - {name: shop}
  - {name: other}
endpoints:
  - {name: server, namespace: shop, labels: {app: server}, ips: [10.7.0.2]}
  - {name: client-shop, namespace: shop, labels: {app: client}, ips: [10.7.0.3]}
  - {name: client-other, namespace: other, labels: {app: client}, ips: [10.7.0.4]}
  - {name: stranger, namespace: shop, labels: {app: stranger}, ips: [10.7.0.5]}
`;

const SERVER = "10.7.0.2";
const CLIENT_SHOP = "10.7.0.3";
const CLIENT_OTHER = "10.7.0.4";
const STRANGER = "10.7.0.5";
const WORLD = "203.0.113.9";

const notInit = `
    matchExpressions:
    - {key: "reserved:init", operator: DoesNotExist}`;

describe("CiliumNetworkPolicy whose subject excludes reserved:init", () => {
  const policy = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: clients-only, namespace: shop}
spec:
  endpointSelector:
    matchLabels: {app: server}${notInit}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: client}
`;
  const { snapshot, warnings } = compileYaml(policy, endpoints);
  const from = (src: string) => snapshot.decideFlow(flow(src, SERVER, 8080));

  it("compiles cleanly", () => expect(warnings).toEqual([]));

  it("lets app=client pods of its own namespace in", () => {
    const v = from(CLIENT_SHOP);
    expect(v.allowed).toBe(true);
    expect(v.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "shop/clients-only", action: "allow" });
  });

  it("keeps app=client pods of other namespaces out, as without the init clause", () => {
    const v = from(CLIENT_OTHER);
    expect(v.allowed).toBe(false);
    expect(v.ingress.decidedBy).toEqual({ kind: "default-deny" });
  });

  it("keeps other pods and the world out", () => {
    expect(from(STRANGER).allowed).toBe(false);
    expect(from(WORLD).allowed).toBe(false);
  });

  it("confines an empty peer ({}) to the namespace too", () => {
    const { snapshot: s } = compileYaml(policy.replace("- matchLabels: {app: client}", "- {}"), endpoints);
    expect(s.decideFlow(flow(STRANGER, SERVER, 8080)).allowed).toBe(true);
    expect(s.decideFlow(flow(CLIENT_OTHER, SERVER, 8080)).allowed).toBe(false);
    expect(s.decideFlow(flow(WORLD, SERVER, 8080)).allowed).toBe(false);
  });
});

describe("CiliumClusterwideNetworkPolicy whose subject mentions reserved:init", () => {
  const ccnp = (peer: string, subject: string) => `
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cw}
spec:
  endpointSelector:
    matchLabels: {app: server}${subject}
  ingress:
  - fromEndpoints:
    - ${peer}
`;

  it("lets app=client pods of every namespace in", () => {
    const { snapshot, warnings } = compileYaml(ccnp("matchLabels: {app: client}", notInit), endpoints);
    expect(warnings).toEqual([]);
    expect(snapshot.decideFlow(flow(CLIENT_SHOP, SERVER, 8080)).allowed).toBe(true);
    expect(snapshot.decideFlow(flow(CLIENT_OTHER, SERVER, 8080)).allowed).toBe(true);
    expect(snapshot.decideFlow(flow(STRANGER, SERVER, 8080)).allowed).toBe(false);
  });

  // With no cluster name to confine peers to (as with --policy-default-local-cluster=false),
  // the namespace requirement is all that keeps a cluster-wide {} peer to pods.
  const unclustered = (text: string) => compilePolicies(policiesFromYaml(text), inventoryFromYaml(endpoints), { clusterName: "" }).snapshot;

  it("does not require an empty peer ({}) to be a pod, as Cilium does for init subjects", () => {
    // Without the init clause {} means "every pod" and the world stays out.
    const plain = unclustered(ccnp("{}", ""));
    expect(plain.decideFlow(flow(CLIENT_OTHER, SERVER, 8080)).allowed).toBe(true);
    expect(plain.decideFlow(flow(WORLD, SERVER, 8080)).allowed).toBe(false);
    // With it, Cilium adds no namespace requirement, so {} selects every identity.
    const init = unclustered(ccnp("{}", notInit));
    expect(init.decideFlow(flow(CLIENT_OTHER, SERVER, 8080)).allowed).toBe(true);
    expect(init.decideFlow(flow(WORLD, SERVER, 8080)).allowed).toBe(true);
  });
});
