// `l7proxy check`: decide one flow (and optionally one HTTP, Kafka or DNS request) offline,
// exactly as the proxy would, and say which policy decided each side.

import { parseArgs } from "node:util";
import { L7ProxyError } from "../errors/codes.js";
import { normalizeTarget } from "../datapath/http1/path-normalize.js";
import { compilePolicies } from "../policy/compile/index.js";
import type { FlowQuery, FlowVerdict, HeaderOp, L7Verdict, Protocol, SideVerdict } from "../policy/decision.js";
import { loadEndpointsFile } from "../policy/endpoints/load-endpoints.js";
import type { EndpointInventory } from "../policy/endpoints/types.js";
import { formatDiagnostic, loadPolicyPaths } from "../policy/load/index.js";
import { requestApiKey } from "../policy/match/kafka/api-keys.js";
import { canonicalIp } from "../policy/net/ip.js";
import type { ExplainedDecidedBy } from "../policy/snapshot/policy-snapshot.js";

export const USAGE = `Usage: l7proxy check --policies PATH... --endpoints FILE --from PEER --to PEER --port N[/tcp|/udp|/sctp]
    [--http-method M] [--http-path P] [--http-host H] [--http-header 'Name: value']...
    [--kafka-api-key NAME|NUMBER] [--kafka-api-version V] [--kafka-client-id ID] [--kafka-topic T]...
    [--dns-query NAME] [--fqdn-ip NAME=IP]... [--secret NS/NAME=VALUE]... [--json]

Decide offline whether a connection (and optionally one request on it) would be allowed,
and by which policy. Both sides are decided, as Cilium does: the source's egress and the
destination's ingress.

  --policies PATH...   policy files or directories (YAML/JSON; directories recursively)
  --endpoints FILE     who is who: l7proxy endpoints YAML, or kubectl get pods,namespaces -A -o yaml
  --from PEER          source: namespace/name of an endpoint, or an IP address
  --to PEER            destination: namespace/name of an endpoint, or an IP address
  --port N[/proto]     destination port; protocol tcp (default), udp or sctp
  --http-*             an HTTP request (method default GET, path default /); HTTP/2 and gRPC
                       are decided by the same rules, per stream: a gRPC call is
                       --http-method POST --http-path /package.Service/Method (enforced on
                       the data path too: a denied call gets PERMISSION_DENIED)
  --kafka-*            a Kafka request (--kafka-api-key is required; version default 0)
  --dns-query NAME     a DNS query to the destination
  --fqdn-ip NAME=IP    what a DNS answer taught the DNS proxy, for toFQDNs (repeatable)
  --secret NS/NAME=VALUE
                       the value of the Kubernetes Secret NS/NAME, for headerMatches that
                       name it (repeatable). Without it no Secret exists here: such a match
                       uses its inline value, or never matches. Printed only as [redacted];
                       note that other local users may see command lines
  --json               print one JSON object instead of text
  -h, --help           show this help

Output: first line ALLOWED or DENIED, then what decided each side.
Exit codes: 0 allowed, 1 denied, 2 error (bad usage, invalid policy or endpoints files).
`;

class UsageError extends Error {}

interface Args {
  policies: string[];
  endpoints: string | undefined;
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
  http: { method: string; path: string; host: string; headers: string[] } | null;
  kafka: { apiKey: number; apiVersion: number; clientId: string | null; topics: string[] } | null;
  dns: string | null;
  fqdnIps: Map<string, string[]>;
  /** undefined when no --secret was given: no Secret is known at all. */
  secrets: Map<string, string> | undefined;
  json: boolean;
}

function parse(argv: string[]): Args | "help" {
  // --policies takes every following value up to the next option.
  const policies: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--policies") {
      while (i + 1 < argv.length && !(argv[i + 1] as string).startsWith("--")) policies.push(argv[++i] as string);
    } else if (a.startsWith("--policies=")) policies.push(a.slice("--policies=".length));
    else rest.push(a);
  }
  let v;
  try {
    v = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        endpoints: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        port: { type: "string" },
        "http-method": { type: "string" },
        "http-path": { type: "string" },
        "http-host": { type: "string" },
        "http-header": { type: "string", multiple: true },
        "kafka-api-key": { type: "string" },
        "kafka-api-version": { type: "string" },
        "kafka-client-id": { type: "string" },
        "kafka-topic": { type: "string", multiple: true },
        "dns-query": { type: "string" },
        "fqdn-ip": { type: "string", multiple: true },
        secret: { type: "string", multiple: true },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (v.help === true) return "help";
  if (policies.length === 0) throw new UsageError("--policies needs at least one PATH");
  if (v.from === undefined || v.to === undefined) throw new UsageError("--from and --to are required");
  if (v.port === undefined) throw new UsageError("--port is required");
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(v.port);
  const port = Number(m?.[1]);
  if (m === null || port < 1 || port > 65535) throw new UsageError(`--port ${v.port}: expected N or N/tcp, N/udp, N/sctp with 1 <= N <= 65535`);
  const protocol = (m[2]?.toUpperCase() ?? "TCP") as Protocol;

  const httpGiven = ["http-method", "http-path", "http-host", "http-header"].some((k) => v[k as keyof typeof v] !== undefined);
  const kafkaGiven = ["kafka-api-key", "kafka-api-version", "kafka-client-id", "kafka-topic"].some((k) => v[k as keyof typeof v] !== undefined);
  const dnsGiven = v["dns-query"] !== undefined;
  if ([httpGiven, kafkaGiven, dnsGiven].filter(Boolean).length > 1) throw new UsageError("give an HTTP, a Kafka or a DNS request, not several");

  let kafka: Args["kafka"] = null;
  if (kafkaGiven) {
    const keyText = v["kafka-api-key"];
    if (keyText === undefined) throw new UsageError("--kafka-api-key is required for a Kafka request");
    const apiKey = requestApiKey(keyText);
    if (apiKey === undefined) throw new UsageError(`--kafka-api-key ${keyText}: not a Kafka API name or number`);
    const apiVersion = Number(v["kafka-api-version"] ?? "0");
    if (!Number.isInteger(apiVersion) || apiVersion < 0 || apiVersion > 32767) throw new UsageError("--kafka-api-version must be an integer 0..32767");
    kafka = { apiKey, apiVersion, clientId: v["kafka-client-id"] ?? null, topics: v["kafka-topic"] ?? [] };
  }

  const fqdnIps = new Map<string, string[]>();
  for (const entry of v["fqdn-ip"] ?? []) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    const ip = entry.slice(eq + 1);
    if (eq <= 0 || canonicalIp(ip) === undefined) throw new UsageError(`--fqdn-ip ${entry}: expected NAME=IP`);
    fqdnIps.set(name, [...(fqdnIps.get(name) ?? []), ip]);
  }
  let secrets: Map<string, string> | undefined;
  for (const entry of v.secret ?? []) {
    const m = /^([^/=\s]+)\/([^/=\s]+)=(.*)$/s.exec(entry);
    // Usage errors name the Secret but never echo the value.
    const ref = entry.slice(0, Math.max(0, entry.indexOf("=")));
    if (m === null) throw new UsageError(`--secret ${ref === "" ? "(no NS/NAME=)" : ref}=...: expected NS/NAME=VALUE`);
    const key = `${m[1]}/${m[2]}`;
    secrets ??= new Map();
    if (secrets.has(key)) throw new UsageError(`--secret ${key} given twice`);
    secrets.set(key, m[3] as string);
  }
  for (const h of v["http-header"] ?? []) if (!/^[^\s:]+:?( .*)?$/.test(h)) throw new UsageError(`--http-header ${h}: expected 'Name: value'`);

  return {
    policies,
    endpoints: v.endpoints,
    from: v.from,
    to: v.to,
    port,
    protocol,
    http: httpGiven
      ? { method: v["http-method"] ?? "GET", path: v["http-path"] ?? "/", host: v["http-host"] ?? "", headers: v["http-header"] ?? [] }
      : null,
    kafka,
    dns: v["dns-query"] ?? null,
    fqdnIps,
    secrets,
    json: v.json === true,
  };
}

function resolvePeer(text: string, inv: EndpointInventory, flag: string): string {
  if (canonicalIp(text) !== undefined) return text;
  const slash = text.indexOf("/");
  if (slash <= 0) throw new UsageError(`${flag} ${text}: expected namespace/name or an IP address`);
  const ns = text.slice(0, slash);
  const name = text.slice(slash + 1);
  const ep = inv.endpoints.find((e) => e.namespace === ns && e.name === name);
  if (ep === undefined) throw new UsageError(`${flag} ${text}: no such endpoint in the endpoints file`);
  const ip = ep.ips[0];
  if (ip === undefined) throw new UsageError(`${flag} ${text}: the endpoint has no IP`);
  return ip;
}

function headerLookup(headers: string[]): (n: string) => string | undefined {
  const map = new Map<string, string>();
  for (const h of headers) {
    const colon = h.indexOf(":");
    const name = (colon < 0 ? h : h.slice(0, colon)).trim().toLowerCase();
    const value = colon < 0 ? "" : h.slice(colon + 1).trim();
    map.set(name, map.has(name) ? `${map.get(name) ?? ""},${value}` : value);
  }
  return (n) => map.get(n);
}

function describeSide(s: SideVerdict, peerIsEndpoint: boolean): string {
  const d = s.decidedBy as ExplainedDecidedBy;
  const verdict = s.allowed ? "allowed" : "denied";
  switch (d.kind) {
    case "not-enforced":
      return peerIsEndpoint ? "allowed: no policy selects this endpoint" : "allowed: not an endpoint (world), nothing to enforce";
    case "default-deny":
      if (d.layer !== "l7") return "denied: default deny (no rule allows this peer and port)";
      return d.policies !== undefined && d.policies.length > 0
        ? `denied at L7 by ${d.policies.join(", ")}: none of its rules matches the request (default deny)`
        : "denied at L7: no rule matches the request (default deny)";
    case "policy": {
      const layer = d.layer === "l7" ? "L7" : "L3/L4";
      const where = d.rulePath !== undefined && d.rulePath !== "" ? ` (${d.rulePath})` : "";
      return `${verdict} at ${layer} by ${d.policy} rule ${d.ruleIndex}${where}`;
    }
  }
}

/** Values read from Secrets are applied by the proxy but never printed. */
function redactOp(op: HeaderOp): HeaderOp {
  return "value" in op && op.secret === true ? { ...op, value: "[redacted]" } : op;
}

function peerText(p: FlowVerdict["source"]): string {
  return p.endpoint !== undefined ? `${p.endpoint.namespace}/${p.endpoint.name} (${p.ip})` : `${p.ip} (${p.reserved ?? "world"})`;
}

export async function main(argv: string[]): Promise<number> {
  let args: Args | "help";
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`l7proxy check: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (args === "help") {
    process.stdout.write(USAGE);
    return 0;
  }

  const loaded = await loadPolicyPaths(args.policies);
  const errors = loaded.diagnostics.filter((d) => d.severity === "error");
  for (const d of loaded.diagnostics.filter((x) => x.severity !== "note")) process.stderr.write(`${formatDiagnostic(d)}\n`);
  if (errors.length > 0) {
    process.stderr.write(`l7proxy check: ${errors.length} error(s) in the policy files; nothing decided\n`);
    return 2;
  }
  let inventory: EndpointInventory = { namespaces: [], endpoints: [] };
  let query: FlowQuery;
  try {
    if (args.endpoints !== undefined) inventory = await loadEndpointsFile(args.endpoints);
    query = { srcIp: resolvePeer(args.from, inventory, "--from"), dstIp: resolvePeer(args.to, inventory, "--to"), dstPort: args.port, protocol: args.protocol };
  } catch (err) {
    if (err instanceof L7ProxyError || err instanceof UsageError) {
      process.stderr.write(`l7proxy check: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args.fqdnIps.size > 0) query.fqdnIps = args.fqdnIps;

  const { snapshot, warnings } = compilePolicies(loaded.policies, inventory, args.secrets === undefined ? {} : { secrets: args.secrets });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const flow = snapshot.decideFlow(query);
  let request: L7Verdict | null = null;
  let requestKind: "http" | "kafka" | "dns" | null = null;
  // The data path decides on the path as Envoy normalizes it; so does check.
  let pathNote: string | null = null;
  if (args.http !== null) {
    requestKind = "http";
    const normalized = normalizeTarget(args.http.path);
    if ("code" in normalized) {
      process.stdout.write(`DENIED\nthe proxy answers ${normalized.status} to this request target (${normalized.message}); nothing is forwarded\n`);
      return 1;
    }
    if (normalized.target !== args.http.path) pathNote = `path normalized to ${normalized.target} (as Envoy does) before deciding`;
    if (normalized.escapedSlashes) pathNote = `the proxy answers 307 with location ${normalized.target}; the retried request is decided as below`;
    request = snapshot.decideHttp(flow, query, { method: args.http.method, path: normalized.target, host: args.http.host, header: headerLookup(args.http.headers) });
  } else if (args.kafka !== null) {
    requestKind = "kafka";
    request = snapshot.decideKafka(flow, query, { ...args.kafka, topics: args.kafka.topics.length > 0 ? args.kafka.topics : null });
  } else if (args.dns !== null) {
    requestKind = "dns";
    request = snapshot.decideDns(flow, query, { qname: args.dns });
  }
  const allowed = request !== null ? request.allowed : flow.allowed;
  const egress = request?.egress ?? flow.egress;
  const ingress = request?.ingress ?? flow.ingress;

  if (args.json) {
    const out = {
      verdict: allowed ? "ALLOWED" : "DENIED",
      allowed,
      query: { ...query, fqdnIps: query.fqdnIps === undefined ? undefined : Object.fromEntries(query.fqdnIps) },
      source: flow.source,
      destination: flow.destination,
      l7: flow.l7,
      egress,
      ingress,
      flow: { allowed: flow.allowed, egress: flow.egress, ingress: flow.ingress },
      request: request === null ? null : { kind: requestKind, ...request, headerOps: request.headerOps.map(redactOp) },
      ...(pathNote !== null ? { pathNote } : {}),
      warnings,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return allowed ? 0 : 1;
  }
  const lines = [allowed ? "ALLOWED" : "DENIED"];
  lines.push(`flow: ${peerText(flow.source)} -> ${peerText(flow.destination)} port ${query.dstPort}/${query.protocol}`);
  lines.push(`egress  (source):      ${describeSide(egress, flow.source.endpoint !== undefined)}`);
  lines.push(`ingress (destination): ${describeSide(ingress, flow.destination.endpoint !== undefined)}`);
  if (flow.allowed && flow.l7 !== null && request === null) lines.push(`L7: ${flow.l7} rules apply on this port; each request is decided by them (pass a request to check one)`);
  if (flow.allowed && flow.l7 === null && request !== null) lines.push("L7: no L7 rules on this port; every request is allowed");
  if (pathNote !== null) lines.push(`L7: ${pathNote}`);
  for (const op of (request?.headerOps ?? []).map(redactOp)) lines.push(`header ${op.op}: ${op.name}${"value" in op ? `: ${op.value}` : ""}`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return allowed ? 0 : 1;
}
