// The handler of a protocol the data path cannot parse yet: the connection is reset (fail
// closed), so requests the engine would have to decide never pass undecided.

import type { L7Protocol } from "../policy/decision.js";
import type { ProtocolHandler } from "./protocol-handler.js";

export function refuseHandler(protocol: L7Protocol): ProtocolHandler {
  return {
    protocol,
    start(conn) {
      conn.observer.connectionError("L7P_ERR_PROTOCOL_UNSUPPORTED", `no ${protocol} parser on the data path: connection refused`);
      conn.client.resetAndDestroy();
      return { drain: null };
    },
  };
}
