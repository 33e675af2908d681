// `l7proxy run` configuration: one schema owns every default; flags and the --config YAML
// file use the same (kebab-case) keys; flags win; the result is validated once and frozen.
// Nothing else in the program reads process.env.

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { L7ProxyError } from "../errors/codes.js";
import { cpuBudget } from "./cpu-budget.js";

/** Set by the primary on the worker processes it forks (--workers N); not a user setting. */
export const WORKER_ENV = "L7PROXY_WORKER_INDEX";

export interface RunConfig {
  /** This process's index when it is one of the --workers N workers; null otherwise. */
  readonly workerIndex: number | null;
  readonly policies: readonly string[];
  readonly endpoints: string | null;
  readonly kubernetes: boolean;
  readonly nodeName: string | null;
  readonly proxyPort: number;
  readonly proxyHost: string;
  /** Plain (non-transparent) mode: every connection goes to this upstream. */
  readonly upstream: { readonly host: string; readonly port: number } | null;
  readonly admin: { readonly host: string; readonly port: number } | null;
  readonly installRules: boolean;
  readonly rulesBackend: "nft" | "iptables";
  readonly nftTable: string;
  readonly mark: number;
  readonly routeTable: number;
  /** Upstream connections carry the client's own address as source (transparent sockets). */
  readonly preserveSource: boolean;
  /** SO_MARK of the proxy's upstream sockets, which the interception rules never redirect. */
  readonly upstreamMark: number;
  /** Worker processes; `auto` is resolved here, from the CPU affinity and cgroup quota. */
  readonly workers: number;
  /** Accept-queue length asked of listen(2); the kernel caps it at net.core.somaxconn. */
  readonly listenBacklog: number;
  /** V8 young-generation semi-space (MiB) of worker processes; 0 leaves V8's default. */
  readonly semiSpaceMb: number;
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  readonly drainTimeoutMs: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxGrpcTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly maxRequestLineBytes: number;
  readonly maxHeaders: number;
  readonly maxPipelined: number;
  readonly kafkaMaxFrameBytes: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly http2MaxConcurrentStreams: number;
  readonly http2StreamWindowBytes: number;
  readonly http2ConnectionWindowBytes: number;
  readonly http2MaxHeaderListPairs: number;
  readonly http2MaxControlFramesPerSecond: number;
  readonly http2ResetMinStreams: number;
  readonly http2MaxSessionMemoryMb: number;
  /** UDP port of the DNS proxy (TPROXY target for DNS); 0 turns the DNS proxy off. */
  readonly dnsProxyPort: number;
  readonly dnsRejectResponseCode: "refused" | "name-error";
  readonly dnsUpstreamTimeoutMs: number;
  /** Most UDP sockets sending DNS queries from clients' own addresses (one per client address). */
  readonly dnsUpstreamSockets: number;
  /** A client-address DNS socket with no query in flight for this long is closed. */
  readonly dnsUpstreamSocketIdleMs: number;
  readonly fqdnMinTtl: number;
  readonly fqdnMaxIpsPerName: number;
  readonly fqdnMaxHoldMs: number;
  readonly stateDir: string | null;
  /** Forward what policy would deny, recording it as AUDIT (Cilium's policy-audit-mode, for L7 too). */
  readonly policyAuditMode: boolean;
  readonly telemetry: boolean;
  readonly podLevelMetrics: boolean;
  readonly flowSampleRate: number;
  readonly deniedFlowMinRate: number;
  readonly flowRingSize: number;
}

type OptionKind = "string" | "strings" | "number" | "boolean" | "count";

interface OptionSpec {
  kind: OptionKind;
  help: string;
  default: unknown;
  /** Key in RunConfig. */
  key: keyof RunConfig;
}

// The single source of every default and of the --help text.
export const RUN_OPTIONS: Record<string, OptionSpec> = {
  policies: { kind: "strings", key: "policies", default: [], help: "policy files or directories (repeatable)" },
  endpoints: { kind: "string", key: "endpoints", default: null, help: "endpoints file (l7proxy format, or a Kubernetes v1 List of Pods and Namespaces)" },
  kubernetes: { kind: "boolean", key: "kubernetes", default: false, help: "watch policies, pods and namespaces through the Kubernetes API" },
  "node-name": { kind: "string", key: "nodeName", default: null, help: "this node's name (only its pods are enforced with --kubernetes); default $NODE_NAME" },
  "proxy-port": { kind: "number", key: "proxyPort", default: 15001, help: "transparent listening port that TPROXY redirects to" },
  "proxy-host": {
    kind: "string",
    key: "proxyHost",
    default: "auto",
    help: "address of the transparent listener; auto: :: for IPv4 and IPv6 (TPROXY'd IPv6 connections need an IPv6 socket), 0.0.0.0 on a host without IPv6",
  },
  upstream: {
    kind: "string",
    key: "upstream",
    default: null,
    help: "plain mode for tests and benchmarks: a normal (not transparent) listener that sends every connection to HOST:PORT, decided as if the client had dialled it; no rules are installed",
  },
  admin: { kind: "string", key: "admin", default: "127.0.0.1:9901", help: "admin server HOST:PORT (/healthz /readyz /metrics /flows /policy), or 'off'" },
  "install-rules": { kind: "boolean", key: "installRules", default: true, help: "install the interception rules at start (--no-install-rules to manage them yourself)" },
  "rules-backend": { kind: "string", key: "rulesBackend", default: "nft", help: "nft (preferred) or iptables" },
  "nft-table": { kind: "string", key: "nftTable", default: "l7proxy", help: "name of l7proxy's own nftables table (inet family)" },
  mark: { kind: "number", key: "mark", default: 0x7e57, help: "firewall mark given to intercepted packets" },
  "route-table": { kind: "number", key: "routeTable", default: 157, help: "routing table holding the local route for marked packets" },
  "preserve-source": {
    kind: "boolean",
    key: "preserveSource",
    default: true,
    help: "connect to the original destination from the client's own address (a transparent socket), so the upstream, and the proxy on its node, see the real caller; --no-preserve-source connects from the node's address (plain --upstream mode always does)",
  },
  "upstream-mark": {
    kind: "number",
    key: "upstreamMark",
    default: 0x80,
    help: "firewall mark (SO_MARK) of the proxy's upstream connections; the interception rules never redirect packets carrying it. Must share no bit with --mark",
  },
  workers: {
    kind: "count",
    key: "workers",
    default: 1,
    help: "worker processes sharing the port with SO_REUSEPORT; 'auto': one per CPU this process may use (affinity and cgroup CPU quota)",
  },
  "listen-backlog": {
    kind: "number",
    key: "listenBacklog",
    default: 65535,
    help: "accept queue of the transparent listener; the kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4), so raise that sysctl for larger bursts",
  },
  "semi-space-mb": {
    kind: "number",
    key: "semiSpaceMb",
    default: 0,
    help: "V8 semi-space size (MiB) of --workers processes (--min/--max-semi-space-size); 0: V8's default. A single process takes node's own flags",
  },
  "log-level": { kind: "string", key: "logLevel", default: "info", help: "trace, debug, info, warn, error, fatal or silent" },
  "drain-timeout-ms": { kind: "number", key: "drainTimeoutMs", default: 20_000, help: "on SIGTERM, how long in-flight requests may take to finish" },
  "header-timeout-ms": { kind: "number", key: "headerTimeoutMs", default: 10_000, help: "time a client has to send a complete request head" },
  "idle-timeout-ms": { kind: "number", key: "idleTimeoutMs", default: 300_000, help: "idle connection timeout (Envoy's stream idle timeout is 300 s)" },
  "request-timeout-ms": {
    kind: "number",
    key: "requestTimeoutMs",
    default: 3_600_000,
    help: "time from the end of a forwarded request (HTTP/1 request, HTTP/2 or gRPC stream) to the end of its response, then 504 (gRPC: UNAVAILABLE), or the stream or connection reset if the response had started; it counts the whole of a streaming response (Cilium's route timeout, http-request-timeout, is 3600 s); 0 = none",
  },
  "max-grpc-timeout-ms": {
    kind: "number",
    key: "maxGrpcTimeoutMs",
    default: 0,
    help: "cap on the deadline a gRPC call's grpc-timeout header sets (from its request head; past it DEADLINE_EXCEEDED and the upstream call cancelled); calls without the header have none (Cilium's http-max-grpc-timeout); 0 = no cap",
  },
  "max-header-bytes": { kind: "number", key: "maxHeaderBytes", default: 65_536, help: "largest request head accepted; larger gets 431" },
  "max-request-line-bytes": { kind: "number", key: "maxRequestLineBytes", default: 8_192, help: "longest HTTP/1 request line accepted; longer gets 431" },
  "max-headers": { kind: "number", key: "maxHeaders", default: 100, help: "most header fields in a request (Envoy's max_headers_count); more gets 431" },
  "max-pipelined": { kind: "number", key: "maxPipelined", default: 32, help: "requests of one connection decided ahead of their answers before the proxy stops reading from it" },
  "kafka-max-frame-bytes": { kind: "number", key: "kafkaMaxFrameBytes", default: 16_777_216, help: "largest Kafka request frame accepted (the whole frame is read before it is decided); larger closes the connection" },
  "policy-audit-mode": {
    kind: "boolean",
    key: "policyAuditMode",
    default: false,
    help: "forward what policy would deny (L3/L4 and L7) and record it with verdict AUDIT, to roll a policy out without breaking traffic",
  },
  "upstream-connect-timeout-ms": { kind: "number", key: "upstreamConnectTimeoutMs", default: 5_000, help: "time to connect to the original destination" },
  "http2-max-concurrent-streams": { kind: "number", key: "http2MaxConcurrentStreams", default: 100, help: "HTTP/2 and gRPC: streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused" },
  "http2-stream-window-bytes": { kind: "number", key: "http2StreamWindowBytes", default: 1_048_576, help: "HTTP/2: flow-control window of each stream, what one stream may have in flight to the proxy" },
  "http2-connection-window-bytes": { kind: "number", key: "http2ConnectionWindowBytes", default: 4_194_304, help: "HTTP/2: flow-control window of each connection, what all its streams together may have in flight" },
  "http2-max-header-list-pairs": { kind: "number", key: "http2MaxHeaderListPairs", default: 128, help: "HTTP/2: header fields in one request; more refuse the stream (max-header-bytes bounds their decoded size)" },
  "http2-max-control-frames-per-second": { kind: "number", key: "http2MaxControlFramesPerSecond", default: 100, help: "HTTP/2: SETTINGS, and PING, frames a client may send per second before its connection is closed as a flood" },
  "http2-reset-min-streams": { kind: "number", key: "http2ResetMinStreams", default: 500, help: "HTTP/2: streams a connection opens before a client resetting half of them is closed (rapid reset, CVE-2023-44487)" },
  "http2-max-session-memory-mb": { kind: "number", key: "http2MaxSessionMemoryMb", default: 32, help: "HTTP/2: memory one connection's HTTP/2 state may use (node:http2 maxSessionMemory); past it new streams are refused" },
  "dns-proxy-port": { kind: "number", key: "dnsProxyPort", default: 15053, help: "UDP port of the DNS proxy, where DNS from endpoints with DNS rules or toFQDNs peers is redirected (TCP DNS uses --proxy-port); 0 = no DNS proxy" },
  "dns-reject-response-code": { kind: "string", key: "dnsRejectResponseCode", default: "refused", help: "answer to a query policy denies: refused (REFUSED) or name-error (NXDOMAIN), as Cilium's --tofqdns-dns-reject-response-code" },
  "dns-upstream-timeout-ms": { kind: "number", key: "dnsUpstreamTimeoutMs", default: 10_000, help: "time the resolver has to answer a forwarded query, then SERVFAIL (Cilium's ProxyForwardTimeout)" },
  "dns-upstream-sockets": { kind: "number", key: "dnsUpstreamSockets", default: 1024, help: "most UDP sockets forwarding DNS queries from the clients' own addresses (one per pod address and resolver; the least recently used idle one makes room); a query that finds none is answered SERVFAIL (L7P_ERR_UPSTREAM_SOURCE)" },
  "dns-upstream-socket-idle-ms": { kind: "number", key: "dnsUpstreamSocketIdleMs", default: 30_000, help: "a DNS socket from a client's address with no query in flight for this long is closed" },
  "fqdn-min-ttl": { kind: "number", key: "fqdnMinTtl", default: 0, help: "shortest time (seconds) a learned name keeps allowing its IPs for toFQDNs, whatever the answer's TTL" },
  "fqdn-max-ips-per-name": { kind: "number", key: "fqdnMaxIpsPerName", default: 1000, help: "most IPs kept per learned name (the least recently answered go first)" },
  "fqdn-max-hold-ms": { kind: "number", key: "fqdnMaxHoldMs", default: 100, help: "longest a DNS answer is held until the policy allowing its IPs is in force (Cilium's --tofqdns-proxy-response-max-delay)" },
  "state-dir": { kind: "string", key: "stateDir", default: null, help: "directory for state that survives a restart (learned DNS names, learned Kafka topic IDs); none when unset" },
  telemetry: { kind: "boolean", key: "telemetry", default: true, help: "metrics and flow records (--no-telemetry turns both off, e.g. to measure their cost)" },
  "pod-level-metrics": { kind: "boolean", key: "podLevelMetrics", default: false, help: "add pod names to metric labels (higher cardinality)" },
  "flow-sample-rate": { kind: "number", key: "flowSampleRate", default: 1000, help: "most forwarded flow records written per second (the rest are counted)" },
  "flow-ring-size": { kind: "number", key: "flowRingSize", default: 4096, help: "flow records kept in memory for /flows and l7proxy observe" },
  "denied-flow-min-rate": { kind: "number", key: "deniedFlowMinRate", default: 1000, help: "denied flow records per second that are never sampled away" },
};

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);

export function runOptionsHelp(): string {
  return Object.entries(RUN_OPTIONS)
    .map(([name, o]) => {
      const flag = o.kind === "boolean" ? `--${name}` : `--${name} ${o.kind === "number" ? "N" : o.kind === "count" ? "N|auto" : "VALUE"}`;
      const dflt = Array.isArray(o.default) || o.default === null ? "" : ` (default ${JSON.stringify(o.default)})`;
      return `  ${flag.padEnd(34)}${o.help}${dflt}`;
    })
    .join("\n");
}

function usageError(message: string): never {
  throw new L7ProxyError("L7P_ERR_USAGE", message);
}

function coerce(name: string, spec: OptionSpec, value: unknown, origin: string): unknown {
  const bad = (what: string): never =>
    spec === undefined ? usageError(`${origin}: unknown option '${name}'`) : usageError(`${origin}: ${name}: ${what}`);
  switch (spec.kind) {
    case "boolean":
      if (typeof value === "boolean") return value;
      return bad(`expected true or false, got ${JSON.stringify(value)}`);
    case "number": {
      const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < 0) return bad(`expected a non-negative integer, got ${JSON.stringify(value)}`);
      return n;
    }
    case "count": {
      if (value === "auto") return value;
      const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < 0) return bad(`expected a non-negative integer or auto, got ${JSON.stringify(value)}`);
      return n;
    }
    case "string":
      if (typeof value === "string") return value;
      return bad(`expected a string, got ${JSON.stringify(value)}`);
    case "strings":
      if (typeof value === "string") return [value];
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
      return bad(`expected a list of strings, got ${JSON.stringify(value)}`);
  }
}

let defaults: RunConfig | undefined;

/** Every option at its default: what embedders and tests start from (the schema's values, nothing else). */
export function defaultRunConfig(): RunConfig {
  defaults ??= parseRunConfig([], {});
  return defaults;
}

/** Parses `run`/`rules` argv (and the --config file it names) into a frozen RunConfig. `cpus` resolves `--workers auto`. */
export function parseRunConfig(argv: string[], env: NodeJS.ProcessEnv = process.env, cpus: () => number = () => cpuBudget().cpus): RunConfig & { help: boolean } {

  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    config: { type: "string" },
    help: { type: "boolean" },
  };
  for (const [name, o] of Object.entries(RUN_OPTIONS)) {
    options[name] = o.kind === "boolean" ? { type: "boolean" } : { type: "string", multiple: o.kind === "strings" };
    if (o.kind === "boolean") options[`no-${name}`] = { type: "boolean" };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (err) {
    usageError((err as Error).message);
  }
  const flags = parsed.values as Record<string, unknown>;
  const merged = new Map<string, unknown>();

  if (typeof flags.config === "string") {
    const file = flags.config;
    let doc: unknown;
    try {
      doc = YAML.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new L7ProxyError("L7P_ERR_CONFIG", `${file}: ${(err as Error).message}`);
    }
    if (doc !== null && (typeof doc !== "object" || Array.isArray(doc))) {
      throw new L7ProxyError("L7P_ERR_CONFIG", `${file}: expected a mapping of option names to values`);
    }
    for (const [name, value] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
      const spec = RUN_OPTIONS[name];
      if (spec === undefined) {
        throw new L7ProxyError("L7P_ERR_CONFIG", `${file}: unknown key '${name}' (keys are the flag names, e.g. proxy-port)`);
      }
      try {
        merged.set(name, coerce(name, spec, value, file));
      } catch (err) {
        throw new L7ProxyError("L7P_ERR_CONFIG", (err as Error).message);
      }
    }
  }
  for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
    if (spec.kind === "boolean") {
      if (flags[name] === true) merged.set(name, true);
      if (flags[`no-${name}`] === true) merged.set(name, false);
    } else if (flags[name] !== undefined) {
      merged.set(name, coerce(name, spec, flags[name], "command line"));
    }
  }

  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
    out[spec.key] = merged.has(name) ? merged.get(name) : spec.default;
  }
  if (out.nodeName === null && env.NODE_NAME) out.nodeName = env.NODE_NAME;
  out.workerIndex = env[WORKER_ENV] !== undefined ? Number(env[WORKER_ENV]) : null;
  const adminText = out.admin as string;
  if (adminText === "off") out.admin = null;
  else {
    const m = /^(.*):(\d+)$/.exec(adminText);
    if (m === null || Number(m[2]) > 65535) usageError(`--admin: expected HOST:PORT or 'off', got '${adminText}'`);
    out.admin = { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
  }
  if (out.upstream !== null) {
    const m = /^(.*):(\d+)$/.exec(out.upstream as string);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) usageError(`--upstream: expected HOST:PORT, got '${String(out.upstream)}'`);
    out.upstream = { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
    out.installRules = false;
  }
  if ((out.proxyPort as number) < 1 || (out.proxyPort as number) > 65535) usageError("--proxy-port: must be 1-65535");
  if (out.proxyHost !== "auto" && isIP(out.proxyHost as string) === 0) usageError(`--proxy-host: expected a numeric IP address or auto, got '${String(out.proxyHost)}'`);
  if (!LOG_LEVELS.has(out.logLevel as string)) usageError(`--log-level: must be one of ${[...LOG_LEVELS].join(", ")}`);
  if (out.rulesBackend !== "nft" && out.rulesBackend !== "iptables") usageError("--rules-backend: must be nft or iptables");
  if (out.workers === "auto") out.workers = cpus();
  if ((out.workers as number) < 1) usageError("--workers: must be at least 1 (or auto)");
  const mark = out.mark as number;
  const upstreamMark = out.upstreamMark as number;
  if (!Number.isInteger(mark) || mark < 1 || mark > 0xffffffff) usageError("--mark: must be a non-zero 32-bit integer");
  if (!Number.isInteger(upstreamMark) || upstreamMark < 1 || upstreamMark > 0xffffffff) usageError("--upstream-mark: must be a non-zero 32-bit integer");
  // The rules test `mark & upstreamMark == upstreamMark`: a shared bit could make an
  // intercepted packet look like the proxy's own, or route the proxy's packets locally.
  if ((mark & upstreamMark) !== 0) usageError(`--upstream-mark 0x${upstreamMark.toString(16)} shares bits with --mark 0x${mark.toString(16)}`);
  if ((out.listenBacklog as number) < 1) usageError("--listen-backlog: must be at least 1");
  for (const name of ["request-timeout-ms", "max-grpc-timeout-ms"] as const) {
    // setTimeout fires a longer delay after 1 ms.
    if ((out[RUN_OPTIONS[name]!.key] as number) > 2_147_483_647) usageError(`--${name}: must be at most 2147483647 (about 24.8 days)`);
  }
  if ((out.http2MaxConcurrentStreams as number) < 1) usageError("--http2-max-concurrent-streams: must be at least 1");
  for (const [flag, key] of [["http2-stream-window-bytes", "http2StreamWindowBytes"], ["http2-connection-window-bytes", "http2ConnectionWindowBytes"]] as const) {
    const v = out[key] as number;
    if (v < 65_535 || v > 2_147_483_647) usageError(`--${flag}: must be 65535-2147483647 (RFC 9113 §6.9.2)`);
  }
  if ((out.dnsProxyPort as number) > 65535) usageError("--dns-proxy-port: must be 0-65535");
  if (out.dnsRejectResponseCode !== "refused" && out.dnsRejectResponseCode !== "name-error") usageError("--dns-reject-response-code: must be refused or name-error");
  if ((out.fqdnMaxIpsPerName as number) < 1) usageError("--fqdn-max-ips-per-name: must be at least 1");
  if ((out.dnsUpstreamSockets as number) < 1) usageError("--dns-upstream-sockets: must be at least 1");
  for (const name of ["max-headers", "max-pipelined", "max-header-bytes", "max-request-line-bytes"] as const) {
    if ((out[RUN_OPTIONS[name]!.key] as number) < 1) usageError(`--${name}: must be at least 1`);
  }
  out.help = flags.help === true;
  return Object.freeze(out) as unknown as RunConfig & { help: boolean };
}
