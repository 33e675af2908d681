// A protocol's answer to a request policy denied, in the protocol's own words (HTTP 403,
// gRPC status 7, Kafka error 29, DNS REFUSED). Each protocol has its responder in its folder.

import type { L7Verdict } from "../policy/decision.js";

export interface DenyResponder<Req, Reply> {
  deny(req: Req, verdict: L7Verdict): Reply;
}
