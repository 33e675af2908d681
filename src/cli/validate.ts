// `l7proxy validate PATH...`: load policy files the way the proxy would and report every
// problem as file:line:col, without applying anything.

import { parseArgs } from "node:util";
import { formatDiagnostic, loadPolicyPaths, type Diagnostic, type FileSummary } from "../policy/load/index.js";

export const USAGE = `Usage: l7proxy validate PATH... [--verbose] [--json]

Check CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy files
(YAML or JSON, multi-document, kind: List) without applying them. Directories are read
recursively (*.yaml, *.yml, *.json). Other kinds in the same files are skipped.

Options:
  --verbose   also list skipped objects (Deployments, Services...)
  --json      print one JSON object: {valid, files, diagnostics}
  -h, --help  show this help

Errors and warnings go to stderr as file:line:col: field.path: message.
Exit codes: 0 all valid (warnings allowed), 1 at least one error, 2 usage error.
`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        verbose: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`l7proxy validate: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) {
    process.stderr.write(`l7proxy validate: at least one PATH is required\n\n${USAGE}`);
    return 2;
  }

  const result = await loadPolicyPaths(parsed.positionals);
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  const warnings = result.diagnostics.filter((d) => d.severity === "warning");
  const valid = errors.length === 0;

  if (parsed.values.json === true) {
    const shown = parsed.values.verbose === true ? result.diagnostics : result.diagnostics.filter((d) => d.severity !== "note");
    process.stdout.write(`${JSON.stringify({ valid, files: result.files, diagnostics: shown }, null, 2)}\n`);
    return valid ? 0 : 1;
  }

  const shown = result.diagnostics.filter((d) => d.severity !== "note" || parsed.values.verbose === true);
  for (const d of sortByPosition(shown)) process.stderr.write(`${formatDiagnostic(d)}\n`);
  for (const file of result.files) process.stdout.write(`${summaryLine(file, result.diagnostics)}\n`);
  const policies = result.files.reduce((n, f) => n + f.policies, 0);
  process.stdout.write(
    `${valid ? "valid" : "invalid"}: ${plural(result.files.length, "file")}, ${plural(policies, "policy", "policies")}, ` +
      `${plural(errors.length, "error")}, ${plural(warnings.length, "warning")}\n`,
  );
  return valid ? 0 : 1;
}

function summaryLine(file: FileSummary, diagnostics: Diagnostic[]): string {
  const kinds = Object.entries(file.kinds).map(([k, n]) => `${n} ${k}`);
  const skipped = Object.values(file.skipped).reduce((a, b) => a + b, 0);
  const errors = diagnostics.filter((d) => d.file === file.file && d.severity === "error").length;
  const parts = [`${plural(file.policies, "policy", "policies")}${kinds.length > 0 ? ` (${kinds.join(", ")})` : ""}`];
  if (skipped > 0) parts.push(`${skipped} other object${skipped === 1 ? "" : "s"} skipped`);
  if (errors > 0) parts.push(plural(errors, "error"));
  return `${file.file}: ${parts.join(", ")}`;
}

function sortByPosition(ds: Diagnostic[]): Diagnostic[] {
  // Files keep their load order; inside a file, top to bottom as an editor would list them.
  const order = new Map<string, number>();
  ds.forEach((d) => order.has(d.file) || order.set(d.file, order.size));
  return [...ds].sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.col - b.col);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
