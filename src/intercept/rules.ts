// Installing, updating and removing the interception rules: the routing half (ip-routing.ts)
// and the firewall half (nft-rules.ts or iptables-rules.ts), in the order that never opens a
// bypass. Installing puts routing in place first: a packet TPROXY marked but routed the usual
// way would be forwarded to its destination unchecked. Removing goes the other way round.

import { L7ProxyError } from "../errors/codes.js";
import {
  FAMILIES,
  type IpFamily,
  type IpRouteEntry,
  type IpRuleEntry,
  ipRuleArgs,
  isOurRoute,
  isOurRule,
  localRouteArgs,
  renderIpCommands,
} from "./ip-routing.js";
import {
  iptablesChains,
  iptablesCommand,
  iptablesHooks,
  iptablesRestoreCommand,
  renderIptablesRestore,
  renderIptablesScript,
} from "./iptables-rules.js";
import { renderNftDelete, renderNftScript, renderNftSetUpdate } from "./nft-rules.js";
import { type CommandResult, type CommandScope, runCommand } from "./run-command.js";
import { type InterceptSpec, enforcedAddresses, validateSpec } from "./rules-spec.js";

export type { InterceptSpec, RulesBackend } from "./rules-spec.js";
export type { CommandScope } from "./run-command.js";

export interface RenderedRules {
  /** nft script, or iptables-restore inputs with the hook commands as comments. */
  script: string;
  /** `ip rule` / `ip route` commands, in installation order. */
  ipCommands: string[][];
}

export interface InstallReport {
  /** Things that did not stop the installation (IPv6 routing on a host without IPv6). */
  warnings: string[];
}

export function renderRules(spec: InterceptSpec): RenderedRules {
  validateSpec(spec);
  return {
    script: spec.backend === "nft" ? renderNftScript(spec) : renderIptablesScript(spec),
    ipCommands: renderIpCommands(spec),
  };
}

/** Installs everything; running it again converges to the same state (no duplicates). */
export async function installRules(spec: InterceptSpec, scope: CommandScope = {}): Promise<InstallReport> {
  validateSpec(spec);
  const warnings: string[] = [];
  const addresses = enforcedAddresses(spec);
  const needsV6 = addresses.ingress6.length + addresses.egress6.length > 0;
  for (const family of FAMILIES) {
    try {
      await installRouting(spec, family, scope);
    } catch (err) {
      if (family === 4 || needsV6) throw err;
      warnings.push(`IPv6 routing not installed (no IPv6 addresses are enforced): ${(err as Error).message}`);
    }
  }
  if (spec.backend === "nft") {
    await check(["nft", "-f", "-"], scope, renderNftScript(spec));
  } else {
    if ((spec.nonTcp?.allow.length ?? 0) > 0) {
      warnings.push("iptables backend: UDP/SCTP that policy allows to or from enforced endpoints is dropped too (use the nft backend to enforce it)");
    }
    for (const family of FAMILIES) {
      try {
        await installIptables(spec, family, scope);
      } catch (err) {
        if (family === 4 || needsV6) throw err;
        warnings.push(`ip6tables rules not installed (no IPv6 addresses are enforced): ${(err as Error).message}`);
      }
    }
  }
  return { warnings };
}

/**
 * Replaces the enforced addresses (after a policy or endpoint change) atomically: one nft
 * transaction, or one iptables-restore per family. The rules must be installed.
 */
export async function updateEnforcedIps(spec: InterceptSpec, scope: CommandScope = {}): Promise<void> {
  validateSpec(spec);
  if (spec.backend === "nft") {
    await check(["nft", "-f", "-"], scope, renderNftSetUpdate(spec));
    return;
  }
  const addresses = enforcedAddresses(spec);
  const needsV6 = addresses.ingress6.length + addresses.egress6.length > 0;
  await check([iptablesRestoreCommand(4), "--noflush"], scope, renderIptablesRestore(spec, 4));
  const v6 = await runCommand([iptablesRestoreCommand(6), "--noflush"], scope, renderIptablesRestore(spec, 6));
  if (v6.code !== 0 && needsV6) throw rulesError([iptablesRestoreCommand(6), "--noflush"], v6);
}

/** Removes everything installRules added; succeeds when nothing is installed. */
export async function uninstallRules(spec: InterceptSpec, scope: CommandScope = {}): Promise<void> {
  validateSpec(spec);
  if (spec.backend === "nft") {
    await check(["nft", "-f", "-"], scope, renderNftDelete(spec));
  } else {
    for (const family of FAMILIES) await uninstallIptables(spec, family, scope);
  }
  for (const family of FAMILIES) await uninstallRouting(spec, family, scope);
}

/** True when the IPv4 routing and the firewall rules are all in place. */
export async function rulesInstalled(spec: InterceptSpec, scope: CommandScope = {}): Promise<boolean> {
  validateSpec(spec);
  if ((await ourRuleCount(spec, 4, scope)) === 0 || !(await hasOurRoute(spec, 4, scope))) return false;
  if (spec.backend === "nft") {
    const listed = await runCommand(["nft", "list", "chain", "inet", spec.table, "prerouting"], scope);
    return listed.code === 0;
  }
  for (const hook of iptablesHooks(spec)) {
    const probe = await runCommand([iptablesCommand(4), "-t", hook.table, "-C", hook.chain, ...hook.rule], scope);
    if (probe.code !== 0) return false;
  }
  return true;
}

async function installRouting(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<void> {
  await check(localRouteArgs(spec, family, "replace"), scope);
  // `ip rule add` happily adds a second identical rule, so add only when missing, and drop
  // extra copies an interrupted run or an older version may have left.
  const count = await ourRuleCount(spec, family, scope);
  if (count === 0) await check(ipRuleArgs(spec, family, "add"), scope);
  for (let extra = count; extra > 1; extra--) await check(ipRuleArgs(spec, family, "del"), scope);
}

async function uninstallRouting(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<void> {
  const count = await ourRuleCount(spec, family, scope).catch(() => 0);
  for (let i = 0; i < count; i++) await check(ipRuleArgs(spec, family, "del"), scope);
  if (await hasOurRoute(spec, family, scope)) await check(localRouteArgs(spec, family, "del"), scope);
}

async function ourRuleCount(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<number> {
  const entries = await listJson<IpRuleEntry>(["ip", "-j", `-${family}`, "rule", "show"], scope);
  return entries.filter((entry) => isOurRule(entry, spec)).length;
}

async function hasOurRoute(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<boolean> {
  const argv = ["ip", "-j", `-${family}`, "route", "show", "table", String(spec.routeTable)];
  const result = await runCommand(argv, scope);
  // A table that was never used does not exist: nothing of ours is there.
  if (result.code !== 0) return false;
  return parseJson<IpRouteEntry>(argv, result).some(isOurRoute);
}

async function installIptables(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<void> {
  await check([iptablesRestoreCommand(family), "--noflush"], scope, renderIptablesRestore(spec, family));
  const tool = iptablesCommand(family);
  for (const hook of iptablesHooks(spec)) {
    const probe = await runCommand([tool, "-t", hook.table, "-C", hook.chain, ...hook.rule], scope);
    // First in the chain, so no earlier ACCEPT lets a connection skip the redirect.
    if (probe.code !== 0) await check([tool, "-t", hook.table, "-I", hook.chain, "1", ...hook.rule], scope);
  }
}

async function uninstallIptables(spec: InterceptSpec, family: IpFamily, scope: CommandScope): Promise<void> {
  const tool = iptablesCommand(family);
  for (const hook of iptablesHooks(spec)) {
    // -C fails when the rule (or the whole table, or the tool) is absent: nothing to remove.
    for (let guard = 0; guard < 100; guard++) {
      const probe = await runCommand([tool, "-t", hook.table, "-C", hook.chain, ...hook.rule], scope);
      if (probe.code !== 0) break;
      await check([tool, "-t", hook.table, "-D", hook.chain, ...hook.rule], scope);
    }
  }
  const chains = iptablesChains(spec);
  const owned: Array<["mangle" | "filter", string]> = [
    ["mangle", chains.prerouting],
    ["mangle", chains.divert],
    ["filter", chains.forward],
    ["filter", chains.datagrams],
    ["mangle", chains.dns],
  ];
  // Flush all first: the prerouting chain jumps to the divert chain, which cannot be
  // deleted while referenced.
  const present: Array<["mangle" | "filter", string]> = [];
  for (const [table, chain] of owned) {
    if ((await runCommand([tool, "-t", table, "-S", chain], scope)).code === 0) present.push([table, chain]);
  }
  for (const [table, chain] of present) await check([tool, "-t", table, "-F", chain], scope);
  for (const [table, chain] of present) await check([tool, "-t", table, "-X", chain], scope);
}

async function listJson<T>(argv: string[], scope: CommandScope): Promise<T[]> {
  const result = await runCommand(argv, scope);
  if (result.code !== 0) throw rulesError(argv, result);
  return parseJson<T>(argv, result);
}

function parseJson<T>(argv: string[], result: CommandResult): T[] {
  const text = result.stdout.trim();
  if (text === "") return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as T[]) : [];
  } catch {
    throw new L7ProxyError("L7P_ERR_RULES", `${argv.join(" ")}: unexpected output: ${text.slice(0, 200)}`);
  }
}

async function check(argv: string[], scope: CommandScope, input?: string): Promise<CommandResult> {
  let result: CommandResult;
  try {
    result = await runCommand(argv, scope, input);
  } catch (cause) {
    const error = new L7ProxyError("L7P_ERR_RULES", `${argv.join(" ")}: cannot run: ${(cause as Error).message}`);
    error.cause = cause;
    throw error;
  }
  if (result.code !== 0) throw rulesError(argv, result);
  return result;
}

function rulesError(argv: string[], result: CommandResult): L7ProxyError {
  const detail = (result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`).slice(0, 2000);
  return new L7ProxyError("L7P_ERR_RULES", `${argv.join(" ")} failed: ${detail}`);
}
