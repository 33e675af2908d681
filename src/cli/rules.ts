// `l7proxy rules print|install|uninstall`: the interception rules on their own, computed from
// the same options (and policies) as `run`, for operators who manage them separately.

import { L7ProxyError } from "../errors/codes.js";
import { parseRunConfig, runOptionsHelp } from "../config/run-config.js";
import { FileSource } from "../control/file-source.js";
import { interceptSpecFor } from "../control/proxy-process.js";
import { SnapshotHolder } from "../control/snapshot-holder.js";
import { installRules, renderRules, uninstallRules } from "../intercept/rules.js";
import { createLogger } from "../telemetry/logger.js";

const HELP = `Usage: l7proxy rules print|install|uninstall [options]

  print      show the nftables (or iptables) script and ip rule/route commands
  install    install them (idempotent: installing twice leaves one copy)
  uninstall  remove everything l7proxy installed (safe when nothing is installed)

Only traffic to endpoints whose ingress is enforced, and from endpoints whose egress is
enforced, is redirected; print and install therefore load --policies and --endpoints.
uninstall needs neither.

Options: the same as 'l7proxy run':
  --config FILE                     YAML file with any of the options below
${runOptionsHelp()}
`;

export async function main(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === "--help" || action === "-h" || (rest.includes("--help") && action !== undefined)) {
    process.stdout.write(HELP);
    return 0;
  }
  if (action !== "print" && action !== "install" && action !== "uninstall") {
    process.stderr.write(`l7proxy rules: expected print, install or uninstall\n\n${HELP}`);
    return 2;
  }
  let config;
  try {
    config = parseRunConfig(rest);
  } catch (err) {
    if (err instanceof L7ProxyError) {
      process.stderr.write(`l7proxy rules: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const holder = new SnapshotHolder();
  if (action !== "uninstall" && config.policies.length > 0) {
    const source = new FileSource({
      policies: config.policies,
      endpoints: config.endpoints,
      nodeName: config.nodeName,
      holder,
      logger: createLogger(config.logLevel === "info" ? "warn" : config.logLevel),
    });
    const outcome = await source.load();
    if (!outcome.ok) {
      for (const e of outcome.errors) process.stderr.write(`${e}\n`);
      return 1;
    }
  }
  const spec = interceptSpecFor(config, holder.current);
  try {
    if (action === "print") {
      const r = renderRules(spec);
      process.stdout.write(`${r.script}\n${r.ipCommands.map((c) => c.join(" ")).join("\n")}\n`);
    } else if (action === "install") {
      const report = await installRules(spec);
      for (const warning of report.warnings) process.stderr.write(`l7proxy rules install: warning: ${warning}\n`);
      process.stdout.write(`installed: ${spec.ingressIps.length} ingress and ${spec.egressIps.length} egress endpoint IPs redirected to port ${spec.proxyPort}\n`);
    } else {
      await uninstallRules(spec);
      process.stdout.write("uninstalled\n");
    }
  } catch (err) {
    process.stderr.write(`l7proxy rules ${action}: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
