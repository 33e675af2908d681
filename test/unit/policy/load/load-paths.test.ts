import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPolicyPaths } from "../../../../src/policy/load/index.js";

const policy = (name: string): string => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}}
spec: {endpointSelector: {}, ingress: [{}]}
`;

describe("loadPolicyPaths", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "l7p-load-"));
    await mkdir(path.join(dir, "b", "nested"), { recursive: true });
    await mkdir(path.join(dir, "..data"), { recursive: true });
    await mkdir(path.join(dir, ".git"), { recursive: true });
    await writeFile(path.join(dir, "b", "nested", "z.yml"), policy("z"));
    await writeFile(path.join(dir, "b", "a.json"), JSON.stringify({ apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", metadata: { name: "j" }, spec: { endpointSelector: {}, egress: [{}] } }));
    await writeFile(path.join(dir, "a.yaml"), policy("a"));
    await writeFile(path.join(dir, "README.md"), "not yaml: [");
    await writeFile(path.join(dir, "..data", "a.yaml"), policy("hidden"));
    await writeFile(path.join(dir, ".git", "x.yaml"), policy("git"));
    await symlink(path.join(dir, "a.yaml"), path.join(dir, "link.yaml"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("walks directories recursively in sorted order, skipping hidden entries and non-policy files", async () => {
    const r = await loadPolicyPaths([dir]);
    expect(r.diagnostics).toEqual([]);
    expect(r.files.map((f) => path.relative(dir, f.file))).toEqual(["a.yaml", path.join("b", "a.json"), path.join("b", "nested", "z.yml")]);
    expect(r.policies.map((p) => p.name)).toEqual(["a", "j", "z"]);
  });

  it("loads the same file once even when named twice or through a symlink", async () => {
    const r = await loadPolicyPaths([path.join(dir, "a.yaml"), dir, path.join(dir, "link.yaml")]);
    expect(r.policies.map((p) => p.name)).toEqual(["a", "j", "z"]);
  });

  it("reports a missing path as an error diagnostic and loads the rest", async () => {
    const missing = path.join(dir, "nope.yaml");
    const r = await loadPolicyPaths([missing, path.join(dir, "a.yaml")]);
    expect(r.diagnostics).toEqual([
      { severity: "error", code: "L7P_ERR_POLICY_FILE", file: missing, line: 0, col: 0, fieldPath: "", message: "cannot read: no such file or directory" },
    ]);
    expect(r.policies.map((p) => p.name)).toEqual(["a"]);
  });

  it("reads a file named explicitly whatever its extension", async () => {
    const r = await loadPolicyPaths([path.join(dir, "README.md")]);
    expect(r.diagnostics[0]?.code).toBe("L7P_ERR_YAML_SYNTAX");
  });
});
