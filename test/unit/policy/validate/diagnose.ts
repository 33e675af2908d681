// Test helpers: run the loader on inline YAML and locate the expected position by plain text
// search, so positions are checked against the text itself, not against the library.

import { expect } from "vitest";
import { parsePolicyText, type Diagnostic, type LoadResult } from "../../../../src/policy/load/index.js";

export const FILE = "policies/p.yaml";

export function load(text: string): LoadResult {
  return parsePolicyText(text, FILE);
}

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
export function positionOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let idx = -1;
  for (let i = 0; i <= nth; i++) {
    idx = text.indexOf(needle, idx + 1);
    if (idx < 0) throw new Error(`needle ${JSON.stringify(needle)} #${nth} not in text`);
  }
  const before = text.slice(0, idx);
  const line = before.split("\n").length;
  const col = idx - before.lastIndexOf("\n");
  return { line, col };
}

export interface Expected {
  fieldPath: string;
  message: string;
  /** Text at the reported position (its first occurrence unless `nth`). */
  at: string;
  nth?: number;
  severity?: Diagnostic["severity"];
  code?: Diagnostic["code"];
}

/** Asserts that loading `text` reports `e` at the exact position, and returns the diagnostic. */
export function expectDiagnostic(text: string, e: Expected): Diagnostic {
  const result = load(text);
  const found = result.diagnostics.find((d) => d.fieldPath === e.fieldPath && d.message.includes(e.message));
  if (found === undefined) {
    throw new Error(`no diagnostic ${e.fieldPath}: ${e.message}; got:\n${result.diagnostics.map((d) => `${d.fieldPath}: ${d.message}`).join("\n")}`);
  }
  const pos = positionOf(text, e.at, e.nth);
  expect({ file: found.file, line: found.line, col: found.col, severity: found.severity }).toEqual({
    file: FILE,
    line: pos.line,
    col: pos.col,
    severity: e.severity ?? "error",
  });
  if (e.code !== undefined) expect(found.code).toBe(e.code);
  if ((e.severity ?? "error") === "error") expect(result.policies).toHaveLength(0);
  return found;
}

export function cnp(spec: string, kind = "CiliumNetworkPolicy"): string {
  return `apiVersion: cilium.io/v2
kind: ${kind}
metadata:
  name: p1
spec:
${spec
  .split("\n")
  .map((l) => (l === "" ? l : `  ${l}`))
  .join("\n")}
`;
}

export function errorsOf(text: string): Diagnostic[] {
  return load(text).diagnostics.filter((d) => d.severity === "error");
}
