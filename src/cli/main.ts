#!/usr/bin/env node
// The `l7proxy` binary: dispatches to one module per command. Each command module exports
// `main(argv): Promise<number>` returning the process exit code, and prints its own --help.

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  run: { summary: "run the transparent proxy on this node", load: () => import("./run.js") },
  validate: { summary: "check policy files without applying them", load: () => import("./validate.js") },
  check: { summary: "decide one flow or request offline: would it be allowed, and by which policy?", load: () => import("./check.js") },
  rules: { summary: "print, install or remove the kernel interception rules", load: () => import("./rules.js") },
  observe: { summary: "show flow records from a running proxy, like hubble observe", load: () => import("./observe.js") },
  demo: { summary: "tell the Star Wars story (or: demo grpc, demo kafka, demo dns) in network namespaces (needs root)", load: () => import("./demo.js") },
};

const USAGE = `l7proxy: a node-local transparent proxy enforcing Cilium and Kubernetes network policies at L3-L7

Usage: l7proxy <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`)
  .join("\n")}

Run 'l7proxy <command> --help' for a command's options.
Exit codes: 0 success (or allowed), 1 failure (invalid policy, denied), 2 usage error.
`;

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    const { createRequire } = await import("node:module");
    const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`l7proxy: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  let mod: Awaited<ReturnType<typeof command.load>>;
  try {
    mod = await command.load();
  } catch (err) {
    if (name === "demo" && isMissingOwnModule(err)) {
      process.stderr.write(
        "l7proxy demo: the demo is not part of this installation (the container image leaves it out).\n" +
          "Run it from a source checkout: npm ci && sudo npm start\n",
      );
      return 1;
    }
    throw err;
  }
  return mod.main(rest);
}

/** A file of l7proxy itself is absent (not a missing package, which is a broken install). */
function isMissingOwnModule(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === "ERR_MODULE_NOT_FOUND" && /^Cannot find module /.test((err as Error).message);
}

dispatch(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`l7proxy: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
