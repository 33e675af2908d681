// Valid Cilium policy features that l7proxy loads but does not enforce yet (or, with a `lead`,
// enforces in some modes only). Each loads with a
// warning naming the feature (code L7P_WARN_NOT_ENFORCED), and the compiler must apply the
// `failClosed` treatment so that the feature never turns into an "allow". The README's feature
// table and the compiler read this list, so it is data, not prose.

export interface NotEnforcedFeature {
  /** Stable id used in warnings and docs. */
  id: string;
  /** The manifest fields that trigger the warning. */
  fields: readonly string[];
  /** One line for users: what the feature is. */
  summary: string;
  /** What l7proxy does instead, so the policy never grants more than Cilium would. */
  failClosed: string;
  /**
   * The warning's opening words when the feature is enforced in some modes only (default
   * "not enforced by l7proxy yet").
   */
  lead?: string;
}

export const NOT_ENFORCED_FEATURES: readonly NotEnforcedFeature[] = [
  {
    id: "icmps",
    fields: ["icmps"],
    summary: "ICMP type rules",
    failClosed: "an icmps rule allows nothing: ICMP to and from enforced endpoints is dropped (errors about allowed flows excepted)",
  },
  {
    id: "toServices",
    fields: ["toServices"],
    summary: "egress to Kubernetes Services by name or selector",
    failClosed: "the peer selects nothing (no Service backends are resolved)",
  },
  {
    id: "groups",
    fields: ["toGroups", "fromGroups"],
    summary: "cloud provider groups (AWS security groups)",
    failClosed: "the peer selects nothing",
  },
  {
    id: "nodes",
    fields: ["toNodes", "fromNodes"],
    summary: "peers selected by node labels",
    failClosed: "the peer selects nothing (the endpoint model has no node labels yet)",
  },
  {
    id: "cidrGroups",
    fields: ["cidrGroupRef", "cidrGroupSelector"],
    summary: "CiliumCIDRGroup references in CIDR sets",
    failClosed: "the CIDR entry selects nothing (CiliumCIDRGroups are not read)",
  },
  {
    id: "requires",
    fields: ["fromRequires", "toRequires"],
    summary: "deprecated fromRequires/toRequires constraints",
    failClosed: "a rule carrying them allows nothing, since ignoring a requirement would widen it",
  },
  {
    id: "authentication",
    fields: ["authentication"],
    summary: "mutual authentication",
    failClosed: "a rule with mode other than \"disabled\" allows nothing (no peer can be authenticated)",
  },
  {
    id: "tls",
    fields: ["terminatingTLS", "originatingTLS", "serverNames"],
    summary: "TLS interception and SNI matching",
    failClosed: "the port rule allows nothing (TLS is neither terminated nor SNI inspected)",
  },
  {
    id: "listener",
    fields: ["listener"],
    summary: "redirect to a CiliumEnvoyConfig listener",
    failClosed: "the port rule allows nothing",
  },
  {
    id: "genericL7",
    fields: ["l7proto", "l7"],
    summary: "generic (proxylib) L7 rules",
    failClosed: "the port rule allows nothing",
  },
  {
    id: "hostPolicy",
    fields: ["nodeSelector"],
    summary: "host policies (nodeSelector) for the node itself",
    failClosed: "the rule selects no endpoint, so it neither allows nor enforces anything here",
  },
  {
    id: "extendedProtocols",
    fields: ["protocol"],
    summary: "extended IP protocols (VRRP, IGMP, GRE, IPIP, IPV6, ESP, AH)",
    failClosed: "the port entry matches no traffic the proxy sees",
  },
  {
    id: "log",
    fields: ["log"],
    summary: "policy verdict log value",
    failClosed: "ignored: it changes logging only, never a verdict",
  },
  {
    id: "headerSecret",
    fields: ["secret"],
    summary: "headerMatches values read from a Kubernetes Secret",
    lead: "read from the cluster only by run --kubernetes",
    failClosed:
      "validate, check and run without --kubernetes cannot read Secrets (check takes --secret NS/NAME=VALUE), so there the secret counts as missing, as in Cilium: the inline value is used if present, otherwise the match never matches (fail closed); with the Kubernetes source the Secret is watched and its value used",
  },
  {
    id: "namedPorts",
    fields: ["port"],
    summary: "named ports (e.g. port: http)",
    failClosed:
      "named ports are resolved only against container ports, which the endpoints model does not carry yet; a named port matches no traffic",
  },
];

function notEnforced(id: string): NotEnforcedFeature {
  const f = NOT_ENFORCED_FEATURES.find((x) => x.id === id);
  if (f === undefined) throw new Error(`unknown not-enforced feature ${id}`);
  return f;
}

/** The warning text for a feature found at some field. */
export function notEnforcedMessage(id: string, field: string): string {
  const f = notEnforced(id);
  return `${f.lead ?? "not enforced by l7proxy yet"}: ${f.summary} (${field}); ${f.failClosed}`;
}
