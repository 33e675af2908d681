// Which handler runs a connection, by the L7 protocol the policy snapshot gives its port.
// A new protocol is a new folder with a ProtocolHandler, and one line here.

import type { L7Protocol } from "../policy/decision.js";
import { dnsTcpHandler } from "./dns/dns-tcp-handler.js";
import { http1Handler } from "./http1/http1-handler.js";
import { kafkaHandler } from "./kafka/kafka-handler.js";
import type { ProtocolHandler } from "./protocol-handler.js";

const HANDLERS: Readonly<Record<L7Protocol, ProtocolHandler>> = Object.freeze({
  http: http1Handler,
  kafka: kafkaHandler,
  dns: dnsTcpHandler,
});

export function handlerFor(protocol: L7Protocol): ProtocolHandler {
  return HANDLERS[protocol];
}
