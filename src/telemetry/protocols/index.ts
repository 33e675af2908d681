// Every L7 protocol's telemetry, by protocol name. A new protocol adds its module here.

import type { L7Detail } from "../../datapath/observer.js";
import { dnsTelemetry } from "./dns.js";
import { httpTelemetry } from "./http.js";
import { kafkaTelemetry } from "./kafka.js";
import type { ProtocolTelemetry } from "./protocol-telemetry.js";

type ByProtocol = { [P in L7Detail["protocol"]]?: ProtocolTelemetry<Extract<L7Detail, { protocol: P }>> };

export const PROTOCOL_TELEMETRY: Readonly<ByProtocol> = Object.freeze({
  http: httpTelemetry,
  dns: dnsTelemetry,
  kafka: kafkaTelemetry,
});

export function protocolTelemetry(protocol: string): ProtocolTelemetry | undefined {
  return (PROTOCOL_TELEMETRY as Record<string, ProtocolTelemetry | undefined>)[protocol];
}
