// Which handler runs a connection, by the L7 protocol the policy snapshot gives its port.
// A new protocol is a new folder with a ProtocolHandler, and one line here.

import type { L7Protocol } from "../policy/decision.js";
import { dnsTcpHandler } from "./dns/dns-tcp-handler.js";
import { httpHandler } from "./http-handler.js";
import { kafkaHandler } from "./kafka/kafka-handler.js";
import type { ProtocolHandler } from "./protocol-handler.js";

const HANDLERS: Readonly<Record<L7Protocol, ProtocolHandler>> = Object.freeze({
  // Sniffs: the HTTP/2 preface -> http2/, anything else -> http1/.
  http: httpHandler,
  kafka: kafkaHandler,
  dns: dnsTcpHandler,
});

export function handlerFor(protocol: L7Protocol): ProtocolHandler {
  return HANDLERS[protocol];
}
