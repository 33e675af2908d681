import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/validate.js";

const GOOD = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1}
spec:
  endpointSelector: {matchLabels: {org: empire}}
  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http: [{method: POST, path: /v1/request-landing}]
---
apiVersion: v1
kind: Service
metadata: {name: deathstar}
`;

const BAD = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: rule1
spec:
  endpointSelector:
    matchLabels:
      org: empire
  ingress:
  - fromEndpoints:
    - matchLabels:
        org: empire
    toPorts:
    - ports:
      - {port: "80", protocol: TCP}
      rules:
        http:
        - path: "/v1/("
`;

const WARN = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: icmp}
spec:
  endpointSelector: {}
  ingress:
  - icmps: [{fields: [{type: 8}]}]
`;

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe("l7proxy validate", () => {
  let dir = "";
  const f = (name: string): string => path.join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "l7p-validate-"));
    await writeFile(f("good.yaml"), GOOD);
    await writeFile(f("bad.yaml"), BAD);
    await writeFile(f("warn.yaml"), WARN);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 0 on valid files with one summary line per file", async () => {
    const r = await run([f("good.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")[0]).toBe(`${f("good.yaml")}: 1 policy (1 CiliumNetworkPolicy), 1 other object skipped`);
    expect(r.stdout).toContain("valid: 1 file, 1 policy, 0 errors, 0 warnings");
  });

  it("lists skipped objects only with --verbose", async () => {
    const r = await run(["--verbose", f("good.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${f("good.yaml")}:14:7: kind: note: skipped Service: not a network policy kind l7proxy reads\n`);
  });

  it("exits 1 and prints each error as file:line:col: field.path: message", async () => {
    const r = await run([f("good.yaml"), f("bad.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f("bad.yaml")}:18:17: spec.ingress[0].toPorts[0].rules.http[0].path: invalid RE2 regex: missing )\n`);
    expect(r.stdout).toContain(`${f("bad.yaml")}: 0 policies, 1 error`);
    expect(r.stdout).toContain("invalid: 2 files, 1 policy, 1 error, 0 warnings");
  });

  it("exits 0 with warnings on stderr for features l7proxy does not enforce", async () => {
    const r = await run([f("warn.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^${f("warn.yaml").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:7:5: spec\\.ingress\\[0\\]\\.icmps: warning: not enforced by l7proxy yet: ICMP`));
  });

  it("reports a missing path as an error (exit 1), not a crash", async () => {
    const r = await run([f("missing.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f("missing.yaml")}: cannot read: no such file or directory\n`);
  });

  it("prints one JSON object with --json", async () => {
    const r = await run(["--json", dir]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; files: { file: string; policies: number }[]; diagnostics: { severity: string; line: number; fieldPath: string }[] };
    expect(out.valid).toBe(false);
    expect(out.files.map((x) => [path.basename(x.file), x.policies])).toEqual([["bad.yaml", 0], ["good.yaml", 1], ["warn.yaml", 1]]);
    expect(out.diagnostics.map((d) => [d.severity, d.line, d.fieldPath])).toEqual([
      ["error", 18, "spec.ingress[0].toPorts[0].rules.http[0].path"],
      ["warning", 7, "spec.ingress[0].icmps"],
    ]);
    expect(r.stderr).toBe("");
  });

  it("exits 2 on usage errors and 0 on --help", async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("at least one PATH is required");
    const unknown = await run(["--frobnicate", f("good.yaml")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--frobnicate'");
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: l7proxy validate PATH...");
  });

  // The installed binary, through the command dispatcher. `npm test` builds dist/ first.
  const built = path.resolve(import.meta.dirname, "../../../dist/cli/main.js");
  const haveBuild = existsSync(built);
  if (!haveBuild && process.env["CI"] === "true") throw new Error(`${built} is missing: run npm run build`);
  it.skipIf(!haveBuild)("the built binary gives the same exit codes", async () => {
    const exec = promisify(execFile);
    const ok = await exec(process.execPath, [built, "validate", f("good.yaml")]);
    expect(ok.stdout).toContain("valid: 1 file");
    const bad = await exec(process.execPath, [built, "validate", f("bad.yaml")]).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(":18:17: spec.ingress[0].toPorts[0].rules.http[0].path: invalid RE2 regex: missing )");
    const usage = await exec(process.execPath, [built, "validate"]).then(
      () => ({ code: 0 }),
      (e: { code: number }) => e,
    );
    expect(usage.code).toBe(2);
  });
});
