// Every stable error code l7proxy reports, in one table. Codes appear in logs, in
// `validate` output (JSON) and as metric labels, so they never change meaning once shipped.
// docs/errors.md lists them all; test/unit/errors/codes.test.ts keeps the two in step.

export const ERROR_CODES = {
  // Policy files
  L7P_ERR_YAML_SYNTAX: "YAML or JSON syntax error",
  L7P_ERR_POLICY_SCHEMA: "a field has the wrong type, an unknown name, or a value outside its enum",
  L7P_ERR_POLICY_UNKNOWN_FIELD: "a field that the policy API does not define",
  L7P_ERR_POLICY_MISSING: "a required field is missing",
  L7P_ERR_POLICY_REGEX: "an HTTP regex that RE2 cannot compile",
  L7P_ERR_POLICY_CIDR: "an invalid CIDR or IP",
  L7P_ERR_POLICY_PORT: "a port, port range or protocol that is out of range or not allowed",
  L7P_ERR_POLICY_SEMANTIC: "a combination of fields that Cilium rejects",
  L7P_WARN_NOT_ENFORCED: "a valid feature that l7proxy loads but does not enforce yet",
  L7P_WARN_POLICY_IGNORED_FIELD: "a field that Kubernetes ignores for this kind (e.g. metadata.namespace on a cluster-wide policy)",
  L7P_NOTE_SKIPPED_KIND: "a manifest of a kind that is not a network policy was skipped",
  L7P_ERR_POLICY_FILE: "a policy path that does not exist or cannot be read",
  // Endpoints
  L7P_ERR_ENDPOINTS: "an invalid endpoints file",
  // Configuration and CLI
  L7P_ERR_USAGE: "a command-line usage error",
  L7P_ERR_CONFIG: "an invalid configuration file or value",
  // Data path: HTTP/1.1 parse errors (each answered with 400 or 431, connection closed)
  L7P_ERR_HTTP_REQUEST_LINE: "malformed request line",
  L7P_ERR_HTTP_HEADER: "malformed header field",
  L7P_ERR_HTTP_HEADER_TOO_LARGE: "request line or header block exceeds the limit",
  L7P_ERR_HTTP_CONTENT_LENGTH: "invalid or duplicate Content-Length",
  L7P_ERR_HTTP_TRANSFER_ENCODING: "Transfer-Encoding other than exactly chunked, or with Content-Length",
  L7P_ERR_HTTP_CHUNK: "malformed chunked body",
  L7P_ERR_HTTP_VERSION: "unsupported HTTP version",
  L7P_ERR_HTTP_HOST: "an HTTP/1.1 request without a Host header, or with more than one",
  L7P_ERR_HTTP_METHOD: "a method the proxy does not forward (CONNECT)",
  L7P_ERR_HTTP_PATH: "a request path that cannot be normalized (malformed percent-encoding, %00, or a fragment)",
  L7P_ERR_HTTP_RESPONSE: "malformed response from the upstream",
  // Data path: HTTP/2 (a stream refused: RST_STREAM; a connection: GOAWAY, then closed)
  L7P_ERR_H2_PROTOCOL: "an invalid HTTP/2 frame or frame sequence (GOAWAY PROTOCOL_ERROR or the error nghttp2 found)",
  L7P_ERR_H2_STREAM: "a stream with malformed request headers (upper-case or connection-specific names, bad pseudo-headers, content-length mismatch): RST_STREAM PROTOCOL_ERROR",
  L7P_ERR_H2_HEADERS_TOO_LARGE: "a header list past the limit once decoded (an HPACK bomb, too many or too large fields): the stream is refused with RST_STREAM ENHANCE_YOUR_CALM",
  L7P_ERR_H2_TOO_MANY_STREAMS: "a stream past SETTINGS_MAX_CONCURRENT_STREAMS: refused with RST_STREAM REFUSED_STREAM",
  L7P_ERR_H2_RAPID_RESET: "a client resetting at least half of its streams (rapid reset, CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM",
  L7P_ERR_H2_CONTINUATION_FLOOD: "a header block over too many CONTINUATION frames or too many bytes: GOAWAY ENHANCE_YOUR_CALM",
  L7P_ERR_H2_SETTINGS_FLOOD: "more SETTINGS frames in a second than allowed: GOAWAY ENHANCE_YOUR_CALM",
  L7P_ERR_H2_PING_FLOOD: "more PING frames in a second than allowed: GOAWAY ENHANCE_YOUR_CALM",
  L7P_ERR_H2_FLOOD: "another flood nghttp2 detected (frames that each need a reply the client does not read)",
  L7P_ERR_H2_UPSTREAM_RESET: "the upstream reset a stream, or cut its response short (RST_STREAM before END_STREAM, even NO_ERROR); the client's stream is reset or answered 503, never ended as a success",
  // Data path: DNS
  L7P_ERR_DNS_MALFORMED: "a DNS query (or a resolver's answer) that cannot be parsed: answered SERVFAIL, never forwarded",
  L7P_ERR_DNS_REPLY: "a DNS answer could not be sent back to the client",
  // Data path: Kafka (the connection is closed, as Cilium's Kafka parser did; nothing is forwarded)
  L7P_ERR_KAFKA_FRAME_TOO_LARGE: "a Kafka request whose size prefix is negative or over --kafka-max-frame-bytes",
  L7P_ERR_KAFKA_VERSION: "a Kafka request of an API key or version that Apache Kafka's specs do not define",
  L7P_ERR_KAFKA_REQUEST: "a Kafka request that does not decode by its API's spec, or has bytes past its end",
  L7P_ERR_KAFKA_RESPONSE: "a Kafka response that cannot be framed, or answers no request or another one",
  // Data path: connections
  L7P_ERR_UPSTREAM_CONNECT: "the original destination refused or did not answer",
  L7P_ERR_UPSTREAM_SOURCE: "the upstream connection (or UDP DNS query) could not be made from the client's address (transparent bind, no free source port, or every --dns-upstream-sockets socket busy): refused (DNS: SERVFAIL), never sent from the node's address",
  L7P_ERR_TIMEOUT: "a client or upstream was idle or too slow past its limit (HTTP/2: a stream's response not complete within --request-timeout-ms: 504, or the stream reset if the response had started)",
  L7P_ERR_GRPC_DEADLINE: "a gRPC call's deadline (its grpc-timeout, capped by --max-grpc-timeout-ms) passed before the response was complete: DEADLINE_EXCEEDED, or the stream reset if the response had started; the upstream stream is cancelled",
  L7P_ERR_INTERNAL: "an internal error on a connection (the connection is closed, never forwarded)",
  L7P_ERR_PROTOCOL_UNSUPPORTED: "a connection whose port has L7 rules of a protocol the data path cannot parse (reset, never forwarded)",
  // Interception
  L7P_ERR_RULES: "installing or removing the interception rules failed",
  L7P_ERR_TRANSPARENT_SOCKET: "the transparent listening socket could not be created",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class L7ProxyError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "L7ProxyError";
  }
}
