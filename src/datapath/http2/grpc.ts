// What the proxy needs to know about gRPC (grpc/grpc doc/PROTOCOL-HTTP2.md), and how Envoy
// tells a gRPC request (source/common/grpc/common.cc): content-type exactly
// "application/grpc" or starting "application/grpc+" ("application/grpc-web" and
// "application/grpc;..." are not gRPC); service and method from a path with exactly two
// "/"-separated tokens, the query stripped.

export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType === "application/grpc" || contentType.startsWith("application/grpc+");
}

export interface GrpcCall {
  service: string;
  method: string;
}

/** "/pkg.Service/Method" -> { service: "pkg.Service", method: "Method" }, else null. */
export function grpcCallOf(path: string): GrpcCall | null {
  const q = path.indexOf("?");
  const p = q === -1 ? path : path.slice(0, q);
  if (p.charCodeAt(0) !== 0x2f) return null;
  const slash = p.indexOf("/", 1);
  if (slash <= 1 || slash === p.length - 1 || p.indexOf("/", slash + 1) !== -1) return null;
  return { service: p.slice(1, slash), method: p.slice(slash + 1) };
}

/** Status code names (grpc/grpc doc/statuscodes.md), as grpc clients print them. */
export const GRPC_STATUS_NAMES: readonly string[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

export function grpcStatusName(status: number | null): string {
  if (status === null) return "NO_STATUS";
  return GRPC_STATUS_NAMES[status] ?? String(status);
}

export const GRPC_STATUS = { OK: 0, CANCELLED: 1, DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, UNAVAILABLE: 14 } as const;

/** grpc-status from a trailer block; null when absent or not a number. */
export function grpcStatusOf(value: string | string[] | undefined): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || !/^\d{1,3}$/.test(v)) return null;
  return Number(v);
}

/** Milliseconds per unit, and units per millisecond (exact integer arithmetic for u and n). */
const TIMEOUT_MS_PER: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1 };
const TIMEOUT_PER_MS: Record<string, number> = { u: 1000, n: 1_000_000 };

/**
 * grpc-timeout ("1*8DIGIT unit", PROTOCOL-HTTP2.md) in whole milliseconds, microseconds and
 * nanoseconds rounded up (Envoy's Grpc::Common::getGrpcTimeout); null when absent or
 * malformed, which Envoy treats as no grpc-timeout at all.
 */
export function grpcTimeoutMs(value: string | string[] | undefined): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return null;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return null;
  const n = Number(m[1]);
  const unit = m[2]!;
  const per = TIMEOUT_PER_MS[unit];
  return per === undefined ? n * TIMEOUT_MS_PER[unit]! : Math.ceil(n / per);
}

/**
 * grpc-message is percent-encoded (PROTOCOL-HTTP2.md). Like Envoy's local replies, the space
 * is encoded too ("Access%20denied%0D%0A"); clients decode any %XX.
 */
export function percentEncodeGrpcMessage(message: string): string {
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out += b > 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
