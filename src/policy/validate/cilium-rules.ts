// Cross-field rules for Cilium policy rules: what Cilium's Rule.Sanitize (pkg/policy/api/
// rule_validation.go), CNP parsing and the CRD's oneOf/anyOf reject, plus warnings for valid
// features l7proxy does not enforce. Shapes (types, enums, unknown fields) are checked elsewhere;
// every reader here tolerates wrong types.

import { checkCidr, cidrCovers } from "../net/ip.js";
import { asList, asObj, asStr, has, nonEmpty, type Obj } from "./access.js";
import type { IssueSink, PathSegment } from "./issue.js";
import { notEnforcedMessage } from "./not-enforced.js";
import { parseCiliumPort } from "./ports.js";
import { EXTENDED_PROTOCOLS } from "./cilium-shape.js";

const isExtended = (protocol: string): boolean => (EXTENDED_PROTOCOLS as readonly string[]).includes(protocol);

type Direction = "ingress" | "ingressDeny" | "egress" | "egressDeny";
const DIRECTIONS: readonly Direction[] = ["ingress", "ingressDeny", "egress", "egressDeny"];

// Peer fields that Cilium counts as "L3 members": only one kind may be used per rule.
const INGRESS_PEERS = ["fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes", "fromGroups"];
const EGRESS_PEERS = ["toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toServices", "toFQDNs", "toGroups", "toNodes"];
const SELECTOR_FIELDS = ["fromEndpoints", "fromNodes", "fromRequires", "toEndpoints", "toNodes", "toRequires"];

export function checkCiliumRule(rule: unknown, path: PathSegment[], clusterwide: boolean, sink: IssueSink): void {
  const r = asObj(rule);
  if (r === undefined) return;
  const hostPolicy = has(r, "nodeSelector");

  if (has(r, "endpointSelector") && hostPolicy) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "nodeSelector"], "rule cannot have both endpointSelector and nodeSelector", "key");
  } else if (!has(r, "endpointSelector") && !hostPolicy) {
    sink.error("L7P_ERR_POLICY_MISSING", path, "rule must have one of endpointSelector or nodeSelector");
  }
  if (hostPolicy && !clusterwide) {
    sink.error(
      "L7P_ERR_POLICY_SEMANTIC",
      [...path, "nodeSelector"],
      "nodeSelector is not allowed in a namespaced CiliumNetworkPolicy; host policies need a CiliumClusterwideNetworkPolicy",
      "key",
    );
  } else if (hostPolicy) {
    sink.warn("L7P_WARN_NOT_ENFORCED", [...path, "nodeSelector"], notEnforcedMessage("hostPolicy", "nodeSelector"), "key");
  }
  if (!DIRECTIONS.some((d) => d in r)) {
    sink.error("L7P_ERR_POLICY_MISSING", path, "rule must have at least one of ingress, ingressDeny, egress, egressDeny");
  }
  for (const key of ["endpointSelector", "nodeSelector"]) checkSelector(r[key], [...path, key], sink);
  if (has(r, "log")) sink.warn("L7P_WARN_NOT_ENFORCED", [...path, "log"], notEnforcedMessage("log", "log"), "key");

  for (const dir of DIRECTIONS) {
    asList(r[dir]).forEach((peerRule, i) => checkDirectionRule(peerRule, dir, [...path, dir, i], hostPolicy, sink));
  }
}

function checkDirectionRule(value: unknown, dir: Direction, path: PathSegment[], hostPolicy: boolean, sink: IssueSink): void {
  const pr = asObj(value);
  if (pr === undefined) return;
  const ingress = dir === "ingress" || dir === "ingressDeny";
  const deny = dir === "ingressDeny" || dir === "egressDeny";

  const peers = (ingress ? INGRESS_PEERS : EGRESS_PEERS).filter((f) => nonEmpty(pr, f));
  if (peers.length > 1) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, peers[1] ?? ""], `combining ${peers[0]} and ${peers[1]} is not supported yet`, "key");
  }
  if (nonEmpty(pr, "toServices") && nonEmpty(pr, "toPorts")) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "toPorts"], "combining toServices and toPorts is not supported yet", "key");
  }
  if (nonEmpty(pr, "icmps") && nonEmpty(pr, "toPorts")) {
    sink.error(
      "L7P_ERR_POLICY_SEMANTIC",
      [...path, "icmps"],
      "the icmps block may only be present without toPorts; define a separate rule to use toPorts",
      "key",
    );
  }

  for (const key of SELECTOR_FIELDS) asList(pr[key]).forEach((s, i) => checkSelector(s, [...path, key, i], sink));
  for (const key of ["fromCIDRSet", "toCIDRSet"]) asList(pr[key]).forEach((c, i) => checkCidrRule(c, [...path, key, i], sink));
  asList(pr["toFQDNs"]).forEach((f, i) => checkOneOf(f, ["matchName", "matchPattern"], [...path, "toFQDNs", i], sink));

  warnIfPresent(pr, path, sink, "icmps", "icmps");
  warnIfPresent(pr, path, sink, "toServices", "toServices");
  warnIfPresent(pr, path, sink, "groups", "toGroups", "fromGroups");
  warnIfPresent(pr, path, sink, "nodes", "toNodes", "fromNodes");
  warnIfPresent(pr, path, sink, "requires", "toRequires", "fromRequires");
  warnIfPresent(pr, path, sink, "authentication", "authentication");

  asList(pr["toPorts"]).forEach((p, i) => checkPortRule(p, [...path, "toPorts", i], { ingress, deny, hostPolicy }, sink));
}

function warnIfPresent(o: Obj, path: PathSegment[], sink: IssueSink, feature: string, ...fields: string[]): void {
  for (const f of fields) {
    if (has(o, f)) sink.warn("L7P_WARN_NOT_ENFORCED", [...path, f], notEnforcedMessage(feature, f), "key");
  }
}

function checkSelector(value: unknown, path: PathSegment[], sink: IssueSink): void {
  const sel = asObj(value);
  if (sel === undefined) return;
  asList(sel["matchExpressions"]).forEach((e, i) => {
    const expr = asObj(e);
    if (expr === undefined) return;
    const op = asStr(expr["operator"]);
    const values = Array.isArray(expr["values"]) ? expr["values"] : [];
    const p = [...path, "matchExpressions", i];
    if ((op === "In" || op === "NotIn") && values.length === 0) {
      sink.error("L7P_ERR_POLICY_SEMANTIC", [...p, "values"], `values must be non-empty when operator is ${op}`);
    }
    if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) {
      sink.error("L7P_ERR_POLICY_SEMANTIC", [...p, "values"], `values must be empty when operator is ${op}`);
    }
  });
}

function checkOneOf(value: unknown, keys: string[], path: PathSegment[], sink: IssueSink): number {
  const o = asObj(value);
  if (o === undefined) return 0;
  const present = keys.filter((k) => k in o);
  if (present.length !== 1) {
    const what = present.length === 0 ? "is missing" : `is ambiguous (${present.join(" and ")} given)`;
    sink.error(present.length === 0 ? "L7P_ERR_POLICY_MISSING" : "L7P_ERR_POLICY_SEMANTIC", path, `exactly one of ${keys.join(", ")} is required; it ${what}`);
  }
  return present.length;
}

function checkCidrRule(value: unknown, path: PathSegment[], sink: IssueSink): void {
  const c = asObj(value);
  if (c === undefined) return;
  checkOneOf(c, ["cidr", "cidrGroupRef", "cidrGroupSelector"], path, sink);
  warnIfPresent(c, path, sink, "cidrGroups", "cidrGroupRef", "cidrGroupSelector");
  checkSelector(c["cidrGroupSelector"], [...path, "cidrGroupSelector"], sink);
  const allow = typeof c["cidr"] === "string" ? checkCidr(c["cidr"]) : undefined;
  if (allow === undefined || typeof allow === "string") return;
  asList(c["except"]).forEach((e, i) => {
    if (typeof e !== "string") return;
    const ex = checkCidr(e);
    if (typeof ex === "string") return;
    if (!cidrCovers(allow, ex)) {
      sink.error("L7P_ERR_POLICY_CIDR", [...path, "except", i], `allow CIDR prefix ${String(c["cidr"])} does not contain exclude CIDR prefix ${e}`);
    }
  });
}

interface PortRuleContext {
  ingress: boolean;
  deny: boolean;
  hostPolicy: boolean;
}

const L7_KINDS = ["http", "kafka", "dns", "l7proto"] as const;

function checkPortRule(value: unknown, path: PathSegment[], ctx: PortRuleContext, sink: IssueSink): void {
  const pr = asObj(value);
  if (pr === undefined) return;
  const ports = asList(pr["ports"]);
  const rules = asObj(pr["rules"]);
  // Cilium's L7Rules.IsEmpty: no rule list at all (an empty list still counts as given).
  const hasL7 = rules !== undefined && ["http", "kafka", "dns", "l7"].some((k) => has(rules, k));
  const hasDns = rules !== undefined && nonEmpty(rules, "dns");
  const rulesPath = [...path, "rules"];

  let zeroPort = false;
  ports.forEach((pv, i) => {
    const pp = asObj(pv);
    if (pp === undefined) return;
    const pPath = [...path, "ports", i];
    const protocol = asStr(pp["protocol"]) ?? "ANY";
    const portText = asStr(pp["port"]);
    const endPort = typeof pp["endPort"] === "number" ? pp["endPort"] : undefined;
    if (isExtended(protocol)) {
      sink.warn("L7P_WARN_NOT_ENFORCED", [...pPath, "protocol"], notEnforcedMessage("extendedProtocols", "protocol"));
    }
    if (!("port" in pp)) {
      if (!isExtended(protocol)) sink.error("L7P_ERR_POLICY_MISSING", pPath, "port must be specified");
      return;
    }
    if (portText === undefined) return;
    const port = parseCiliumPort(portText);
    if (typeof port === "object") return;
    if (port === "named") {
      sink.warn("L7P_WARN_NOT_ENFORCED", [...pPath, "port"], notEnforcedMessage("namedPorts", "port"));
      if (endPort !== undefined && endPort !== 0) {
        sink.error("L7P_ERR_POLICY_PORT", [...pPath, "endPort"], "endPort cannot be combined with a named port");
      }
      return;
    }
    if (port === 0) zeroPort = true;
    if (endPort !== undefined && endPort !== 0 && endPort < port) {
      sink.error("L7P_ERR_POLICY_PORT", [...pPath, "endPort"], `endPort ${endPort} must be >= port ${port}`);
    }
    if (hasDns && endPort !== undefined && endPort > port) {
      sink.error("L7P_ERR_POLICY_PORT", [...pPath, "endPort"], "DNS rules do not support port ranges");
    }
    if (hasL7) {
      if (hasDns ? protocol === "SCTP" : protocol !== "TCP") {
        const why = pp["protocol"] === undefined ? "ANY, the default when protocol is omitted" : protocol;
        sink.error(
          "L7P_ERR_POLICY_PORT",
          [...pPath, pp["protocol"] === undefined ? "port" : "protocol"],
          hasDns ? `DNS rules apply to TCP, UDP or ANY (not ${why})` : `L7 rules can only apply to TCP (not ${why}) except for DNS rules`,
        );
      }
    }
  });

  if (ctx.deny) return;

  if (hasDns && ctx.ingress) sink.error("L7P_ERR_POLICY_SEMANTIC", [...rulesPath, "dns"], "DNS rules are not allowed on ingress", "key");
  const tlsFields = ["terminatingTLS", "originatingTLS", "serverNames"].filter((f) => has(pr, f));
  for (const f of tlsFields) sink.warn("L7P_WARN_NOT_ENFORCED", [...path, f], notEnforcedMessage("tls", f), "key");
  if (has(pr, "serverNames") && hasL7 && !has(pr, "terminatingTLS")) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "serverNames"], "serverNames are not allowed with L7 rules without TLS termination (terminatingTLS)", "key");
  }
  if (has(pr, "listener")) {
    sink.warn("L7P_WARN_NOT_ENFORCED", [...path, "listener"], notEnforcedMessage("listener", "listener"), "key");
    if (ctx.ingress) sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "listener"], "listener is not allowed on ingress", "key");
    if (hasL7) sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "listener"], "listener is not allowed with L7 rules", "key");
  }

  if (rules === undefined) return;
  // The CRD requires exactly one of these in `rules`; Cilium says the same in its own words.
  const kinds = L7_KINDS.filter((k) => k in rules);
  if (kinds.length > 1) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...rulesPath, kinds[1] ?? ""], `multiple L7 protocol rule types specified in single rule (${kinds.join(", ")})`, "key");
  } else if (kinds.length === 0) {
    sink.error(
      "L7P_ERR_POLICY_MISSING",
      rulesPath,
      "l7" in rules ? "'l7' may only be specified when 'l7proto' is also specified" : "rules must have one of http, kafka, dns or l7proto",
    );
  }
  if (has(rules, "l7proto")) sink.warn("L7P_WARN_NOT_ENFORCED", [...rulesPath, "l7proto"], notEnforcedMessage("genericL7", "l7proto"), "key");
  if (!hasL7) return;

  if (ports.length === 0) {
    sink.error("L7P_ERR_POLICY_PORT", rulesPath, hasDns ? "port 53 must be specified for DNS rules" : "L7 rules need at least one port in ports", "key");
  }
  if (zeroPort) sink.error("L7P_ERR_POLICY_PORT", rulesPath, "L7 rules can not be used when a port is 0", "key");
  if (ctx.hostPolicy && !(hasDns && !ctx.ingress)) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", rulesPath, "host policies (nodeSelector) do not support L7 rules, except DNS on egress", "key");
  }

  asList(rules["dns"]).forEach((d, i) => checkOneOf(d, ["matchName", "matchPattern"], [...rulesPath, "dns", i], sink));
  asList(rules["kafka"]).forEach((k, i) => {
    const kr = asObj(k);
    if (kr !== undefined && has(kr, "role") && has(kr, "apiKey")) {
      sink.error("L7P_ERR_POLICY_SEMANTIC", [...rulesPath, "kafka", i, "apiKey"], "cannot set both role and apiKey", "key");
    }
  });
  asList(rules["http"]).forEach((h, i) => {
    asList(asObj(h)?.["headerMatches"]).forEach((m, j) => {
      const hm = asObj(m);
      const secret = asObj(hm?.["secret"]);
      if (hm === undefined || secret === undefined) return;
      const hmPath = [...rulesPath, "http", i, "headerMatches", j];
      if (secret["name"] === "") sink.error("L7P_ERR_POLICY_MISSING", [...hmPath, "secret", "name"], "secret name missing");
      sink.warn("L7P_WARN_NOT_ENFORCED", [...hmPath, "secret"], notEnforcedMessage("headerSecret", "secret"), "key");
    });
  });
}
