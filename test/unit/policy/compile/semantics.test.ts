// Cilium semantics of compilePolicies that the scenario tests do not already pin down.

import { describe, expect, it } from "vitest";
import { compileYaml, flow, httpRequest } from "../../../support/policy-fixtures.js";

const endpoints = `
namespaces:
  - {name: a, labels: {env: dev}}
  - {name: b, labels: {env: prod}}
endpoints:
  - {name: server, namespace: a, labels: {app: server}, ips: [10.7.0.2]}
  - {name: client, namespace: a, labels: {app: client}, ips: [10.7.0.3]}
  - {name: other, namespace: a, labels: {app: other}, ips: [10.7.0.4]}
  - {name: client-b, namespace: b, labels: {app: client}, ips: [10.7.0.5]}
`;
const SERVER = "10.7.0.2";
const CLIENT = "10.7.0.3";
const OTHER = "10.7.0.4";
const CLIENT_B = "10.7.0.5";
const WORLD = "198.51.100.1";

const cnp = (name: string, spec: string, ns = "a") =>
  `---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
const serverSel = "endpointSelector: {matchLabels: {app: server}}";

function allowedFlow(policies: string, src: string, dst = SERVER, port = 80, proto: "TCP" | "UDP" = "TCP"): boolean {
  return compileYaml(policies, endpoints).snapshot.decideFlow(flow(src, dst, port, proto)).allowed;
}

function http(policies: string, src: string, method: string, path: string, port = 80) {
  const { snapshot } = compileYaml(policies, endpoints);
  const q = flow(src, SERVER, port);
  const f = snapshot.decideFlow(q);
  return { f, r: snapshot.decideHttp(f, q, httpRequest(method, path)) };
}

describe("peers", () => {
  it("an omitted L3 list with toPorts is a wildcard, world included", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "80", protocol: TCP}]}]`);
    expect(allowedFlow(p, CLIENT)).toBe(true);
    expect(allowedFlow(p, CLIENT_B)).toBe(true);
    expect(allowedFlow(p, WORLD)).toBe(true);
  });

  it("an empty L3 list selects nothing", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromEndpoints: []\n  toPorts: [{ports: [{port: "80", protocol: TCP}]}]`);
    expect(allowedFlow(p, CLIENT)).toBe(false);
    expect(allowedFlow(p, WORLD)).toBe(false);
  });

  it("`ingress: [{}]` enforces default deny and allows nothing", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- {}`);
    const { snapshot } = compileYaml(p, endpoints);
    expect(snapshot.enforcedIps().ingress).toEqual([SERVER]);
    expect(snapshot.decideFlow(flow(CLIENT, SERVER, 80)).allowed).toBe(false);
  });

  it("fromEndpoints: [{}] is the policy's namespace in a CNP and every pod in a CCNP", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromEndpoints: [{}]`);
    expect(allowedFlow(p, CLIENT)).toBe(true);
    expect(allowedFlow(p, CLIENT_B)).toBe(false);
    expect(allowedFlow(p, WORLD)).toBe(false);
    const ccnp = `apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c}\nspec:\n  ${serverSel}\n  ingress:\n  - fromEndpoints: [{}]\n`;
    expect(allowedFlow(ccnp, CLIENT_B)).toBe(true);
    expect(allowedFlow(ccnp, WORLD)).toBe(false);
  });

  it("selects peers by namespace labels", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.env: prod}}]`);
    expect(allowedFlow(p, CLIENT_B)).toBe(true);
    expect(allowedFlow(p, CLIENT)).toBe(false);
  });

  it("maps entities: world, cluster, all", () => {
    const e = (ent: string) => cnp("p", `${serverSel}\ningress:\n- fromEntities: [${ent}]`);
    expect(allowedFlow(e("world"), WORLD)).toBe(true);
    expect(allowedFlow(e("world"), CLIENT)).toBe(false);
    expect(allowedFlow(e("cluster"), CLIENT_B)).toBe(true);
    expect(allowedFlow(e("cluster"), WORLD)).toBe(false);
    expect(allowedFlow(e("all"), WORLD)).toBe(true);
    expect(allowedFlow(e("all"), CLIENT_B)).toBe(true);
  });

  it("CIDR rules honour except and never select cluster endpoints", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromCIDRSet: [{cidr: 0.0.0.0/0, except: [198.51.100.0/24]}]`);
    expect(allowedFlow(p, "203.0.113.9")).toBe(true);
    expect(allowedFlow(p, WORLD)).toBe(false);
    expect(allowedFlow(p, CLIENT)).toBe(false);
  });

  it("reads IPv4-mapped CIDRs as the IPv4 prefixes they name, for peers written either way", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromCIDRSet: [{cidr: 203.0.113.0/24, except: ["::ffff:203.0.113.128/121"]}]`);
    expect(allowedFlow(p, "203.0.113.9")).toBe(true);
    expect(allowedFlow(p, "::ffff:203.0.113.9")).toBe(true);
    expect(allowedFlow(p, "203.0.113.200")).toBe(false);
    expect(allowedFlow(p, "::ffff:203.0.113.200")).toBe(false);
  });
});

describe("ports", () => {
  it("handles ranges, protocol ANY and port 0", () => {
    const range = cnp("p", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "8000", endPort: 8100, protocol: TCP}]}]`);
    expect(allowedFlow(range, CLIENT, SERVER, 8050)).toBe(true);
    expect(allowedFlow(range, CLIENT, SERVER, 8101)).toBe(false);
    const any = cnp("p", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "53"}]}]`);
    expect(allowedFlow(any, CLIENT, SERVER, 53, "UDP")).toBe(true);
    expect(allowedFlow(any, CLIENT, SERVER, 53, "TCP")).toBe(true);
    const zero = cnp("p", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "0", protocol: UDP}]}]`);
    expect(allowedFlow(zero, CLIENT, SERVER, 12345, "UDP")).toBe(true);
    expect(allowedFlow(zero, CLIENT, SERVER, 12345, "TCP")).toBe(false);
  });
});

describe("deny and default deny", () => {
  it("deny wins over allow, whatever the order of the policies", () => {
    const allow = cnp("allow", `${serverSel}\ningress:\n- fromEntities: [all]`);
    const deny = cnp("deny", `${serverSel}\ningressDeny:\n- fromEndpoints: [{matchLabels: {app: client}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}]}]`);
    for (const policies of [allow + deny, deny + allow]) {
      const v = compileYaml(policies, endpoints).snapshot.decideFlow(flow(CLIENT, SERVER, 80));
      expect(v.allowed).toBe(false);
      expect(v.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "a/deny", action: "deny" });
      expect(allowedFlow(policies, CLIENT, SERVER, 81)).toBe(true);
      expect(allowedFlow(policies, OTHER)).toBe(true);
    }
  });

  it("a deny-only policy enforces default deny too", () => {
    const deny = cnp("deny", `${serverSel}\ningressDeny:\n- fromEntities: [world]`);
    expect(allowedFlow(deny, CLIENT)).toBe(false);
  });

  it("enableDefaultDeny: false leaves everything else allowed, and L7 rules then allow all (visible)", () => {
    const p = cnp(
      "p",
      `${serverSel}\nenableDefaultDeny: {ingress: false}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]\ningressDeny:\n- fromEndpoints: [{matchLabels: {app: other}}]`,
    );
    expect(allowedFlow(p, CLIENT_B, SERVER, 9999)).toBe(true);
    expect(allowedFlow(p, OTHER)).toBe(false);
    const { f, r } = http(p, CLIENT, "DELETE", "/x");
    expect(f.l7).toBe("http");
    expect(r.allowed).toBe(true);
  });

  it("default deny wins when any selecting policy asks for it", () => {
    const open = cnp("open", `${serverSel}\nenableDefaultDeny: {ingress: false}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]`);
    const strict = cnp("strict", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {app: other}}]`);
    expect(allowedFlow(open + strict, CLIENT_B)).toBe(false);
    expect(allowedFlow(open + strict, CLIENT)).toBe(true);
  });
});

describe("merging L7 rules", () => {
  const l7 = (name: string, rules: string, peer = "app: client") =>
    cnp(name, `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {${peer}}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [${rules}]}}]`);

  it("unions HTTP rules of several policies", () => {
    const p = l7("one", "{method: GET, path: /a}") + l7("two", "{method: POST, path: /b}");
    expect(http(p, CLIENT, "GET", "/a").r.allowed).toBe(true);
    const b = http(p, CLIENT, "POST", "/b").r;
    expect(b.allowed).toBe(true);
    expect(b.ingress.decidedBy).toMatchObject({ policy: "a/two" });
    expect(http(p, CLIENT, "GET", "/b").r.allowed).toBe(false);
  });

  it("an L4-only allow for the same peer and port allows every request but keeps the port visible", () => {
    const p = l7("l7", "{method: GET, path: /a}") + cnp("l4", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}]}]`);
    const { f, r } = http(p, CLIENT, "DELETE", "/anything");
    expect(f.l7).toBe("http");
    expect(r.allowed).toBe(true);
    expect(r.ingress.decidedBy).toMatchObject({ policy: "a/l4", layer: "l3-l4" });
  });

  it("an L3-only allow for the peer allows all L7 to it; other peers stay L7-filtered", () => {
    const p = l7("l7", "{method: GET, path: /a}", "io.kubernetes.pod.namespace: a") + cnp("l3", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]`);
    expect(http(p, CLIENT, "PUT", "/z").r.allowed).toBe(true);
    expect(http(p, OTHER, "PUT", "/z").r.allowed).toBe(false);
    expect(http(p, OTHER, "GET", "/a").r.allowed).toBe(true);
  });

  it("`http: [{}]` allows all requests but keeps them visible; `http: []` is L4-only", () => {
    const visible = l7("v", "{}");
    const { f, r } = http(visible, CLIENT, "PATCH", "/q");
    expect(f.l7).toBe("http");
    expect(r.allowed).toBe(true);
    expect(http(cnp("e", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: []}}]`), CLIENT, "GET", "/").f.l7).toBeNull();
  });

  it("decides both sides: the client's egress L7 rules apply too", () => {
    const egress = cnp("eg", `endpointSelector: {matchLabels: {app: client}}\negress:\n- toEndpoints: [{matchLabels: {app: server}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]`);
    const ingress = l7("in", "{path: /a}");
    const get = http(egress + ingress, CLIENT, "GET", "/a").r;
    expect(get.allowed).toBe(true);
    expect(get.egress.decidedBy).toMatchObject({ policy: "a/eg", layer: "l7" });
    expect(get.ingress.decidedBy).toMatchObject({ policy: "a/in", layer: "l7" });
    const post = http(egress + ingress, CLIENT, "POST", "/a").r;
    expect(post.allowed).toBe(false);
    expect(post.egress.allowed).toBe(false);
    expect(post.ingress.allowed).toBe(true);
  });
});

describe("features l7proxy does not enforce never widen access", () => {
  it("icmps, authentication, toServices and TLS contribute nothing, with warnings", () => {
    const p =
      cnp("icmp", `${serverSel}\ningress:\n- fromEntities: [all]\n  icmps: [{fields: [{type: 8, family: IPv4}]}]`) +
      cnp("auth", `${serverSel}\ningress:\n- fromEntities: [all]\n  authentication: {mode: required}`) +
      cnp("tls", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "443", protocol: TCP}], terminatingTLS: {secret: {name: s}}, rules: {http: [{}]}}]`) +
      cnp("svc", `endpointSelector: {matchLabels: {app: client}}\negress:\n- toServices: [{k8sService: {serviceName: x, namespace: a}}]`);
    const { snapshot, warnings } = compileYaml(p, endpoints);
    expect(snapshot.decideFlow(flow(CLIENT, SERVER, 80)).allowed).toBe(false);
    expect(snapshot.decideFlow(flow(CLIENT, SERVER, 443)).allowed).toBe(false);
    expect(snapshot.decideFlow(flow(CLIENT, OTHER, 80)).allowed).toBe(false);
    for (const f of ["icmps", "authentication", "terminatingTLS", "toServices"]) expect(warnings.join("\n")).toContain(f);
  });

  it("secret-backed headerMatches without the Secret or an inline value never match", () => {
    const p = cnp("s", `${serverSel}\ningress:\n- toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{headerMatches: [{name: X-Key, secret: {name: k}}]}]}}]`);
    const { warnings } = compileYaml(p, endpoints);
    expect(warnings.join("\n")).toContain("secret a/k is not available");
    expect(http(p, CLIENT, "GET", "/").r.allowed).toBe(false);
  });
});

describe("NetworkPolicy", () => {
  const knp = (spec: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: a}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
  it("an empty ingress list with no policyTypes denies all ingress", () => {
    const p = knp("podSelector: {matchLabels: {app: server}}");
    expect(allowedFlow(p, CLIENT)).toBe(false);
    expect(compileYaml(p, endpoints).snapshot.enforcedIps()).toEqual({ ingress: [SERVER], egress: [] });
  });

  it("policyTypes [Egress] with no egress rules denies all egress only", () => {
    const p = knp("podSelector: {matchLabels: {app: client}}\npolicyTypes: [Egress]");
    expect(allowedFlow(p, CLIENT)).toBe(false);
    expect(allowedFlow(p, OTHER, CLIENT)).toBe(true);
  });

  it("an empty namespaceSelector means every namespace; ports without a number mean all ports", () => {
    const p = knp("podSelector: {matchLabels: {app: server}}\ningress:\n- from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}]\n  ports: [{protocol: UDP}]");
    expect(allowedFlow(p, CLIENT_B, SERVER, 5000, "UDP")).toBe(true);
    expect(allowedFlow(p, CLIENT_B, SERVER, 5000, "TCP")).toBe(false);
    expect(allowedFlow(p, OTHER, SERVER, 5000, "UDP")).toBe(false);
  });

  it("endPort makes a range", () => {
    const p = knp("podSelector: {matchLabels: {app: server}}\ningress:\n- ports: [{port: 30000, endPort: 30010}]");
    expect(allowedFlow(p, WORLD, SERVER, 30010)).toBe(true);
    expect(allowedFlow(p, WORLD, SERVER, 30011)).toBe(false);
  });
});

describe("snapshot", () => {
  it("is frozen and re-decides flows from another snapshot", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]\n  toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{path: /ok}]}}]`);
    const one = compileYaml(p, endpoints, 1).snapshot;
    const two = compileYaml(p, endpoints, 2).snapshot;
    expect(Object.isFrozen(one)).toBe(true);
    const q = flow(CLIENT, SERVER, 80);
    const f = one.decideFlow(q);
    expect(two.decideHttp(f, q, httpRequest("GET", "/ok")).allowed).toBe(true);
    expect(two.decideHttp(f, q, httpRequest("GET", "/no")).allowed).toBe(false);
  });

  it("resolves IPv4-mapped IPv6 peers to their endpoint", () => {
    const p = cnp("p", `${serverSel}\ningress:\n- fromEndpoints: [{matchLabels: {app: client}}]`);
    expect(compileYaml(p, endpoints).snapshot.decideFlow(flow(`::ffff:${CLIENT}`, `::ffff:${SERVER}`, 80)).allowed).toBe(true);
  });
});
