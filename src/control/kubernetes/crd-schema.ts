// The cilium.io/v2 CustomResourceDefinitions that l7proxy installs on clusters without Cilium,
// with an openAPIV3Schema built from the policy API types (src/policy/api/types.ts).
//
// `fields<T>()` takes one schema per property of T and the compiler insists on exactly T's
// property names, so a field added to or removed from types.ts breaks the build here until the
// schema follows. Field names, types and enums are those of Cilium's own CRDs (checked by
// test/unit/control/kubernetes/crd-schema.test.ts against Cilium's CRD and examples), so
// manifests written for Cilium apply unchanged and a cluster can later move to Cilium.
//
// Every object keeps unknown fields (x-kubernetes-preserve-unknown-fields) instead of letting
// the API server prune them: a field this schema does not know (for example one added by a
// newer Cilium) then reaches the policy loader, which rejects the policy with a clear error
// and a Kubernetes Event, rather than silently enforcing a weaker policy.

import type {
  CIDRRule,
  EgressDenyRule,
  EgressRule,
  EndpointSelector,
  FQDNSelector,
  HeaderMatch,
  ICMPRule,
  IngressDenyRule,
  IngressRule,
  L7Rules,
  LabelSelectorRequirement,
  PortDenyRule,
  PortProtocol,
  PortRule,
  PortRuleHTTP,
  PortRuleKafka,
  Rule,
} from "../../policy/api/types.js";

export type OpenApiSchema = Record<string, unknown>;

const str = (extra: OpenApiSchema = {}): OpenApiSchema => ({ type: "string", ...extra });
const int = (extra: OpenApiSchema = {}): OpenApiSchema => ({ type: "integer", ...extra });
const bool = (): OpenApiSchema => ({ type: "boolean" });
const arr = (items: OpenApiSchema, extra: OpenApiSchema = {}): OpenApiSchema => ({ type: "array", items, ...extra });
const stringMap = (): OpenApiSchema => ({ type: "object", additionalProperties: { type: "string" } });
/** A field l7proxy does not interpret (TLS contexts, Envoy listeners, cloud groups): any object. */
const opaque = (description: string): OpenApiSchema => ({ type: "object", description, "x-kubernetes-preserve-unknown-fields": true });

type Fields<T> = { [K in keyof Required<T>]-?: OpenApiSchema };

function fields<T>(props: Fields<T>, extra: OpenApiSchema = {}): OpenApiSchema {
  return { type: "object", properties: props, "x-kubernetes-preserve-unknown-fields": true, ...extra };
}

/** Port number 0-65535 or an IANA service name, as Cilium's CRD pattern. */
const PORT_PATTERN = "^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})|([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$";

const requirement = fields<LabelSelectorRequirement>(
  {
    key: str(),
    operator: str({ enum: ["In", "NotIn", "Exists", "DoesNotExist"] }),
    values: arr(str()),
  },
  { required: ["key", "operator"] },
);

const selector = fields<EndpointSelector>({ matchLabels: stringMap(), matchExpressions: arr(requirement) });

const cidrRule = fields<CIDRRule>({
  cidr: str(),
  cidrGroupRef: str(),
  cidrGroupSelector: selector,
  except: arr(str()),
});

const portProtocol = fields<PortProtocol>({
  port: str({ pattern: PORT_PATTERN }),
  endPort: int({ format: "int32", minimum: 0, maximum: 65535 }),
  protocol: str({ enum: ["TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY"] }),
});

const headerMatch = fields<HeaderMatch>(
  {
    name: str({ minLength: 1 }),
    value: str(),
    secret: fields<NonNullable<HeaderMatch["secret"]>>({ namespace: str(), name: str() }, { required: ["name"] }),
    mismatch: str({ enum: ["LOG", "ADD", "DELETE", "REPLACE"] }),
  },
  { required: ["name"] },
);

const http = fields<PortRuleHTTP>({
  path: str({ description: "Extended POSIX regex (RE2) matched against the whole request path." }),
  method: str({ description: "Extended POSIX regex (RE2) matched against the whole request method." }),
  host: str({ description: "Extended POSIX regex (RE2) matched against the whole Host / :authority." }),
  headers: arr(str()),
  headerMatches: arr(headerMatch),
});

const kafka = fields<PortRuleKafka>({ role: str({ enum: ["produce", "consume"] }), apiKey: str(), apiVersion: str(), clientID: str(), topic: str({ maxLength: 255 }) });

const fqdn = fields<FQDNSelector>({
  matchName: str({ maxLength: 255, pattern: "^([-a-zA-Z0-9_]+[.]?)+$" }),
  matchPattern: str({ maxLength: 255, pattern: "^([-a-zA-Z0-9_*]+[.]?)+$" }),
});

const l7Rules = fields<L7Rules>({
  http: arr(http),
  kafka: arr(kafka),
  dns: arr(fqdn),
  l7proto: str(),
  l7: arr(stringMap()),
});

const portRule = fields<PortRule>({
  ports: arr(portProtocol, { maxItems: 40 }),
  rules: l7Rules,
  terminatingTLS: opaque("TLS context for terminating TLS (not interpreted by l7proxy)."),
  originatingTLS: opaque("TLS context for originating TLS (not interpreted by l7proxy)."),
  serverNames: arr(str({ minLength: 1 })),
  listener: opaque("Custom Envoy listener (not interpreted by l7proxy)."),
});

const portDenyRule = fields<PortDenyRule>({ ports: arr(portProtocol, { maxItems: 40 }) });

const icmpRule = fields<ICMPRule>({
  fields: arr(
    {
      type: "object",
      properties: {
        type: { "x-kubernetes-int-or-string": true },
        family: str({ enum: ["IPv4", "IPv6"] }),
      },
      required: ["type"],
      "x-kubernetes-preserve-unknown-fields": true,
    },
    { maxItems: 40 },
  ),
});

const authentication = fields<NonNullable<IngressRule["authentication"]>>({ mode: str({ enum: ["disabled", "required", "test-always-fail"] }) }, { required: ["mode"] });

const ingressCommon = {
  fromEndpoints: arr(selector),
  fromRequires: arr(selector),
  fromCIDR: arr(str()),
  fromCIDRSet: arr(cidrRule),
  fromEntities: arr(str()),
  fromGroups: arr(opaque("Cloud provider groups (not interpreted by l7proxy).")),
  fromNodes: arr(selector),
  icmps: arr(icmpRule),
  authentication,
};

const ingress = fields<IngressRule>({ ...ingressCommon, toPorts: arr(portRule) });
// Cilium's deny rules have no `authentication` (types.ts inherits it from the allow rule).
const { authentication: _ia, ...ingressDenyCommon } = ingressCommon;
const ingressDeny = fields<Omit<IngressDenyRule, "authentication">>({ ...ingressDenyCommon, toPorts: arr(portDenyRule) });

const egressCommon = {
  toEndpoints: arr(selector),
  toRequires: arr(selector),
  toCIDR: arr(str()),
  toCIDRSet: arr(cidrRule),
  toEntities: arr(str()),
  toServices: arr(opaque("Kubernetes Service reference (k8sService / k8sServiceSelector).")),
  toGroups: arr(opaque("Cloud provider groups (not interpreted by l7proxy).")),
  toNodes: arr(selector),
  icmps: arr(icmpRule),
  authentication,
};

const egress = fields<EgressRule>({ ...egressCommon, toFQDNs: arr(fqdn), toPorts: arr(portRule) });
const { authentication: _ea, ...egressDenyCommon } = egressCommon;
const egressDeny = fields<Omit<EgressDenyRule, "authentication">>({ ...egressDenyCommon, toPorts: arr(portDenyRule) });

/** One Cilium policy rule: the schema of `spec` and of each `specs[]` item. */
export function ruleSchema(): OpenApiSchema {
  return fields<Rule>({
    endpointSelector: selector,
    nodeSelector: selector,
    ingress: arr(ingress),
    ingressDeny: arr(ingressDeny),
    egress: arr(egress),
    egressDeny: arr(egressDeny),
    labels: arr(fields<NonNullable<Rule["labels"]>[number]>({ key: str(), value: str(), source: str() }, { required: ["key"] })),
    description: str(),
    enableDefaultDeny: fields<NonNullable<Rule["enableDefaultDeny"]>>({ ingress: bool(), egress: bool() }),
    log: fields<NonNullable<Rule["log"]>>({ value: str() }),
  });
}

export type CiliumPolicyKind = "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy";

const NAMES: Record<CiliumPolicyKind, { plural: string; singular: string; shortNames: string[]; scope: string }> = {
  CiliumNetworkPolicy: { plural: "ciliumnetworkpolicies", singular: "ciliumnetworkpolicy", shortNames: ["cnp", "ciliumnp"], scope: "Namespaced" },
  CiliumClusterwideNetworkPolicy: { plural: "ciliumclusterwidenetworkpolicies", singular: "ciliumclusterwidenetworkpolicy", shortNames: ["ccnp"], scope: "Cluster" },
};

/** The CustomResourceDefinition for one of the two Cilium policy kinds. */
export function policyCrd(kind: CiliumPolicyKind): Record<string, unknown> {
  const n = NAMES[kind];
  const rule = ruleSchema();
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${n.plural}.cilium.io`,
      labels: { "app.kubernetes.io/part-of": "l7proxy", "app.kubernetes.io/component": "crds" },
      annotations: { "l7proxy.io/generated-by": "src/control/kubernetes/generate-crds.ts" },
    },
    spec: {
      group: "cilium.io",
      names: { categories: ["cilium", "ciliumpolicy"], kind, listKind: `${kind}List`, plural: n.plural, shortNames: n.shortNames, singular: n.singular },
      scope: n.scope,
      versions: [
        {
          name: "v2",
          served: true,
          storage: true,
          additionalPrinterColumns: [{ jsonPath: ".metadata.creationTimestamp", name: "Age", type: "date" }],
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              description: `${kind} (cilium.io/v2), schema generated by l7proxy from its policy API types; compatible with Cilium's CRD.`,
              type: "object",
              required: ["metadata"],
              properties: {
                apiVersion: str(),
                kind: str(),
                metadata: { type: "object" },
                spec: rule,
                specs: arr(rule),
                status: opaque("Written by Cilium agents; l7proxy does not use it."),
              },
            },
          },
        },
      ],
    },
  };
}
