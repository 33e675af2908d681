import { describe, expect, it } from "vitest";
import { NOT_ENFORCED_FEATURES } from "../../../../src/policy/validate/index.js";
import { cnp, expectDiagnostic, load } from "./diagnose.js";

// Each case: a valid policy using a feature l7proxy does not enforce. It must load (never be
// dropped silently), with a warning at the feature's field that names it.
const CASES: { name: string; kind?: string; spec: string; fieldPath: string; at: string; names: string }[] = [
  { name: "icmps", spec: `endpointSelector: {}\ningress:\n- icmps:\n  - fields: [{type: 8, family: IPv4}]`, fieldPath: "spec.ingress[0].icmps", at: "icmps", names: "ICMP" },
  { name: "toServices", spec: `endpointSelector: {}\negress:\n- toServices:\n  - k8sService: {serviceName: db, namespace: prod}`, fieldPath: "spec.egress[0].toServices", at: "toServices", names: "Services" },
  { name: "toGroups", spec: `endpointSelector: {}\negress:\n- toGroups:\n  - aws: {securityGroupsIds: [sg-1]}`, fieldPath: "spec.egress[0].toGroups", at: "toGroups", names: "security groups" },
  { name: "fromNodes", spec: `endpointSelector: {}\ningress:\n- fromNodes: [{matchLabels: {role: worker}}]`, fieldPath: "spec.ingress[0].fromNodes", at: "fromNodes", names: "node labels" },
  { name: "authentication", spec: `endpointSelector: {}\ningress:\n- fromEndpoints: [{}]\n  authentication: {mode: required}`, fieldPath: "spec.ingress[0].authentication", at: "authentication", names: "mutual authentication" },
  {
    name: "terminatingTLS",
    spec: `endpointSelector: {}\negress:\n- toFQDNs: [{matchName: a.com}]\n  toPorts:\n  - ports: [{port: "443", protocol: TCP}]\n    terminatingTLS: {secret: {name: s}}`,
    fieldPath: "spec.egress[0].toPorts[0].terminatingTLS",
    at: "terminatingTLS",
    names: "TLS",
  },
  {
    name: "serverNames",
    spec: `endpointSelector: {}\negress:\n- toPorts:\n  - ports: [{port: "443", protocol: TCP}]\n    serverNames: [a.example.com]`,
    fieldPath: "spec.egress[0].toPorts[0].serverNames",
    at: "serverNames",
    names: "SNI",
  },
  {
    name: "listener",
    spec: `endpointSelector: {}\negress:\n- toPorts:\n  - ports: [{port: "80", protocol: TCP}]\n    listener: {name: l, envoyConfig: {name: cec}}`,
    fieldPath: "spec.egress[0].toPorts[0].listener",
    at: "listener",
    names: "CiliumEnvoyConfig",
  },
  {
    name: "l7proto",
    spec: `endpointSelector: {}\ningress:\n- toPorts:\n  - ports: [{port: "80", protocol: TCP}]\n    rules: {l7proto: r2d2, l7: [{cmd: READ}]}`,
    fieldPath: "spec.ingress[0].toPorts[0].rules.l7proto",
    at: "l7proto",
    names: "generic",
  },
  { name: "cidrGroupRef", spec: `endpointSelector: {}\ningress:\n- fromCIDRSet: [{cidrGroupRef: my-group}]`, fieldPath: "spec.ingress[0].fromCIDRSet[0].cidrGroupRef", at: "cidrGroupRef", names: "CiliumCIDRGroup" },
  { name: "nodeSelector", kind: "CiliumClusterwideNetworkPolicy", spec: `nodeSelector: {matchLabels: {role: worker}}\ningress: [{fromEntities: [cluster]}]`, fieldPath: "spec.nodeSelector", at: "nodeSelector", names: "host policies" },
  { name: "log", spec: `endpointSelector: {}\nlog: {value: audit}\ningress: [{}]`, fieldPath: "spec.log", at: "log", names: "log" },
  { name: "named port", spec: `endpointSelector: {}\ningress:\n- toPorts:\n  - ports: [{port: http, protocol: TCP}]`, fieldPath: "spec.ingress[0].toPorts[0].ports[0].port", at: "http", names: "named ports" },
  { name: "fromRequires", spec: `endpointSelector: {}\ningress:\n- fromRequires: [{matchLabels: {env: prod}}]`, fieldPath: "spec.ingress[0].fromRequires", at: "fromRequires", names: "fromRequires" },
];

describe("valid features l7proxy does not enforce", () => {
  for (const c of CASES) {
    it(`${c.name}: loads with a warning naming the feature`, () => {
      const text = cnp(c.spec, c.kind);
      const d = expectDiagnostic(text, { fieldPath: c.fieldPath, message: "not enforced by l7proxy yet", at: c.at, severity: "warning", code: "L7P_WARN_NOT_ENFORCED" });
      expect(d.message).toContain(c.names);
      const result = load(text);
      expect(result.diagnostics.filter((x) => x.severity === "error")).toEqual([]);
      expect(result.policies).toHaveLength(1);
    });
  }

  it("publishes the list as data, each entry saying how it fails closed", () => {
    const ids = NOT_ENFORCED_FEATURES.map((f) => f.id);
    expect(ids).toEqual(expect.arrayContaining(["icmps", "toServices", "groups", "nodes", "authentication", "tls", "listener", "genericL7", "cidrGroups", "hostPolicy", "log", "headerSecret", "namedPorts"]));
    for (const f of NOT_ENFORCED_FEATURES) expect(f.failClosed.length).toBeGreaterThan(10);
  });

  it("says a headerMatches secret is read by run --kubernetes only, and what happens elsewhere", () => {
    const text = cnp(
      `endpointSelector: {}\ningress:\n- toPorts:\n  - ports: [{port: "80", protocol: TCP}]\n    rules:\n      http:\n      - headerMatches: [{name: X-Token, secret: {name: tok}}]`,
    );
    const d = expectDiagnostic(text, {
      fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].headerMatches[0].secret",
      message: "read from the cluster only by run --kubernetes",
      at: "secret",
      severity: "warning",
      code: "L7P_WARN_NOT_ENFORCED",
    });
    expect(d.message).not.toContain("not enforced by l7proxy yet");
    expect(d.message).toContain("check and run without --kubernetes cannot read Secrets");
    expect(d.message).toContain("the inline value is used if present, otherwise the match never matches (fail closed)");
    expect(d.message).toContain("--secret NS/NAME=VALUE");
    expect(load(text).policies).toHaveLength(1);
  });
});

describe("obsolete fields", () => {
  it("loads Cilium's own auth example with a warning and drops the field, as Kubernetes prunes it", () => {
    const text = cnp(`endpointSelector: {matchLabels: {run: ssh-client}}
egress:
- toEndpoints: [{matchLabels: {run: sshd}}]
  auth:
    type: "null"`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].auth", message: "obsolete field", at: "auth", severity: "warning", code: "L7P_WARN_POLICY_IGNORED_FIELD" });
    const [policy] = load(text).policies;
    expect(policy?.kind === "CiliumNetworkPolicy" && policy.rules[0]?.egress?.[0]).toEqual({ toEndpoints: [{ matchLabels: { run: "sshd" } }] });
  });
});
