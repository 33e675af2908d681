// Port and protocol lists as Cilium reads them (pkg/policy/api/l4.go, pkg/policy/rule.go):
// port "0" or no port means every port, `endPort` makes a range, protocol ANY or omitted
// expands to TCP, UDP and SCTP. Named ports ("http") need the pods' container ports, which the
// inventory does not carry yet: they contribute nothing (never "all ports") and say so.

import type { Protocol } from "../decision.js";
import { ALL_PROTOCOLS, type PortRange } from "./ir.js";

export interface PortInput {
  port?: string | number;
  endPort?: number;
  protocol?: string;
}

export function expandPorts(p: PortInput, defaultProtocol: "ANY" | "TCP", warn: (msg: string) => void): PortRange[] {
  const proto = (p.protocol ?? defaultProtocol).toUpperCase();
  let protocols: readonly Protocol[];
  if (proto === "ANY") protocols = ALL_PROTOCOLS;
  else if (proto === "TCP" || proto === "UDP" || proto === "SCTP") protocols = [proto];
  else {
    warn(`protocol ${proto} is not enforced by l7proxy; this port contributes nothing`);
    return [];
  }
  const text = p.port === undefined ? "0" : String(p.port).trim();
  if (!/^\d+$/.test(text)) {
    warn(`named port "${text}" is not resolved by l7proxy yet; this port contributes nothing`);
    return [];
  }
  const port = Number(text);
  if (port > 65535) return [];
  let lo = port;
  let hi = port;
  if (port === 0) hi = 65535;
  else if (p.endPort !== undefined && p.endPort > port) hi = Math.min(p.endPort, 65535);
  return protocols.map((protocol) => ({ protocol, lo, hi }));
}
