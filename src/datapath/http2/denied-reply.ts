// The answer to a stream policy denies (Cilium's cilium.l7policy filter calls Envoy's
// sendLocalReply(403, "Access denied\r\n")): a gRPC request (grpc.ts) gets the trailers-only
// reply with grpc-status 7 PERMISSION_DENIED and grpc-message "Access%20denied%0D%0A"; any
// other request a 403 text/plain "Access denied\r\n" (headers only for HEAD). Nothing of the
// stream reaches the upstream, and the connection's other streams carry on.

import type { L7Verdict } from "../../policy/decision.js";
import type { DenyResponder } from "../deny-responder.js";
import { localReply, type Http2LocalReply } from "./local-replies.js";

export const DENIED_BODY = "Access denied\r\n";

export interface DeniedStream {
  method: string;
  grpc: boolean;
}

export const GRPC_DENY_RESPONDER: DenyResponder<DeniedStream, Http2LocalReply> = {
  deny: () => localReply(403, DENIED_BODY, { grpc: true, headOnly: false }),
};

export const HTTP2_DENY_RESPONDER: DenyResponder<DeniedStream, Http2LocalReply> = {
  deny: (req) => localReply(403, DENIED_BODY, { grpc: false, headOnly: req.method === "HEAD" }),
};

/** The responder for a stream: gRPC's when the request is gRPC. */
export function denyStream(req: DeniedStream, verdict: L7Verdict): Http2LocalReply {
  return (req.grpc ? GRPC_DENY_RESPONDER : HTTP2_DENY_RESPONDER).deny(req, verdict);
}
