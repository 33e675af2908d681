// The routing half of TPROXY. The firewall rule only tags a packet with a socket and a mark;
// without this the routing decision would still forward it to its original destination.
// `ip rule fwmark MARK lookup TABLE` sends marked packets to a table whose single route,
// `local default dev lo`, says "every address is ours", so they are delivered locally, to
// the socket TPROXY chose.

import { DEFAULT_RULE_PRIORITY, type InterceptSpec, hex } from "./rules-spec.js";

export type IpFamily = 4 | 6;

export const FAMILIES: readonly IpFamily[] = [4, 6];

function rulePriority(spec: InterceptSpec): number {
  return spec.rulePriority ?? DEFAULT_RULE_PRIORITY;
}

export function ipRuleArgs(spec: InterceptSpec, family: IpFamily, verb: "add" | "del"): string[] {
  return [
    "ip", `-${family}`, "rule", verb,
    "fwmark", hex(spec.mark),
    "lookup", String(spec.routeTable),
    "priority", String(rulePriority(spec)),
  ];
}

export function localRouteArgs(spec: InterceptSpec, family: IpFamily, verb: "replace" | "del"): string[] {
  return [
    "ip", `-${family}`, "route", verb,
    "local", family === 4 ? "0.0.0.0/0" : "::/0",
    "dev", "lo",
    "table", String(spec.routeTable),
  ];
}

/** The commands that install the routing half, in order (printed by `l7proxy rules print`). */
export function renderIpCommands(spec: InterceptSpec): string[][] {
  return FAMILIES.flatMap((family) => [ipRuleArgs(spec, family, "add"), localRouteArgs(spec, family, "replace")]);
}

/** One entry of `ip -j rule show`. */
export interface IpRuleEntry {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}

/** Whether an `ip -j rule show` entry is the rule this spec installs. */
export function isOurRule(entry: IpRuleEntry, spec: InterceptSpec): boolean {
  const mask = entry.fwmask === undefined ? 0xffffffff : Number.parseInt(entry.fwmask, 16);
  return (
    entry.priority === rulePriority(spec) &&
    entry.fwmark !== undefined &&
    Number.parseInt(entry.fwmark, 16) === spec.mark &&
    mask === 0xffffffff &&
    entry.table === String(spec.routeTable)
  );
}

/** One entry of `ip -j route show table T`. */
export interface IpRouteEntry {
  type?: string;
  dst?: string;
  dev?: string;
}

export function isOurRoute(entry: IpRouteEntry): boolean {
  return entry.type === "local" && entry.dev === "lo" && (entry.dst === "default" || entry.dst === "0.0.0.0/0" || entry.dst === "::/0");
}
