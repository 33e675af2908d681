// Answers the proxy writes itself on an HTTP/2 stream, in Envoy's words (sendLocalReply,
// source/common/http/utility.cc): a plain request gets the status with a text/plain body; a
// gRPC request gets a trailers-only response (one HEADERS frame with END_STREAM) with
// :status 200, content-type application/grpc, grpc-status mapped from the HTTP status
// (source/common/grpc/status.cc httpToGrpcStatus) and grpc-message the percent-encoded body.

import type { OutgoingHttpHeaders } from "node:http2";
import { httpDate } from "../http1/local-replies.js";
import { percentEncodeGrpcMessage } from "./grpc.js";

export interface Http2LocalReply {
  /** The status the client sees: the HTTP status, or 200 for a gRPC trailers-only reply. */
  status: number;
  headers: OutgoingHttpHeaders;
  /** null: headers only (END_STREAM on the HEADERS frame). */
  body: Buffer | null;
  /** For gRPC replies, the grpc-status sent. */
  grpcStatus: number | null;
}

/** Envoy's httpToGrpcStatus for the statuses the proxy answers with. */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

export function localReply(status: number, body: string, opts: { grpc: boolean; headOnly: boolean; grpcStatus?: number; extra?: OutgoingHttpHeaders }): Http2LocalReply {
  if (opts.grpc) {
    const grpcStatus = opts.grpcStatus ?? grpcStatusForHttp(status);
    return {
      status: 200,
      headers: { ":status": 200, "content-type": "application/grpc", "grpc-status": String(grpcStatus), "grpc-message": percentEncodeGrpcMessage(body), ...opts.extra },
      body: null,
      grpcStatus,
    };
  }
  const bytes = Buffer.from(body, "utf8");
  return {
    status,
    headers: { ":status": status, "content-length": String(bytes.length), "content-type": "text/plain", date: httpDate(), ...opts.extra },
    body: opts.headOnly || bytes.length === 0 ? null : bytes,
    grpcStatus: null,
  };
}
