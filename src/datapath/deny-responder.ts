// How a denial is answered is the protocol's business: HTTP/1.1 and HTTP/2 say 403 `Access
// denied`, gRPC says PERMISSION_DENIED in a trailers-only response, Kafka answers error 29 at
// the request's version, DNS says REFUSED. Each protocol folder has one responder; the
// session machinery only ever asks it for the reply.

import type { L7Verdict } from "../policy/decision.js";

export interface DenyResponder<Req, Reply> {
  /** The reply to a request the policy denied (`verdict.allowed` is false). */
  deny(req: Req, verdict: L7Verdict): Reply;
}
