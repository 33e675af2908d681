// `l7proxy run`: the node proxy. Wires the control plane (policy source -> snapshot holder),
// the interception rules, the transparent listener and the admin server, and owns the
// process lifecycle (readiness, reload, graceful drain on SIGTERM).

import { L7ProxyError } from "../errors/codes.js";
import { parseRunConfig, runOptionsHelp, type RunConfig } from "../config/run-config.js";
import { startProxy } from "../control/proxy-process.js";
import { runWorker, runWorkerPool } from "../control/worker-pool.js";

const HELP = `Usage: l7proxy run [--config FILE] --policies PATH... --endpoints FILE
                   [--proxy-port 15001] [--admin 127.0.0.1:9901]
                   [--install-rules | --no-install-rules] [--log-level info]

Runs the transparent proxy: loads policies and endpoints (and reloads them when a file
changes; an invalid change is logged with file:line and the last good policy stays),
installs the TPROXY interception rules, and enforces L3/L4 and HTTP policy on every
redirected connection. Stopping the proxy leaves the rules in place, so traffic to
enforced endpoints fails closed until a proxy listens again.

Options (the --config YAML file takes the same names as keys; flags win):
  --config FILE                     YAML file with any of the options below
${runOptionsHelp()}
  --help                            show this help
`;

export async function main(argv: string[]): Promise<number> {
  let config: RunConfig & { help: boolean };
  try {
    config = parseRunConfig(argv);
  } catch (err) {
    if (err instanceof L7ProxyError) {
      process.stderr.write(`l7proxy run: ${err.message}\n\nRun 'l7proxy run --help' for usage.\n`);
      return err.code === "L7P_ERR_CONFIG" ? 1 : 2;
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (config.policies.length === 0 && !config.kubernetes) {
    process.stderr.write("l7proxy run: --policies is required (or --kubernetes)\n\nRun 'l7proxy run --help' for usage.\n");
    return 2;
  }
  if (config.workerIndex !== null) return (await runWorker(config)).exitCode;
  if (config.workers > 1) return (await runWorkerPool(config, ["run", ...argv])).exitCode;
  return (await startProxy(config)).exitCode;
}
