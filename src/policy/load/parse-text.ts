// YAML/JSON text -> policies. Each document stands alone: a syntax or validation error in one
// document drops that document only, and `kind: List` items are loaded one by one.

import { LineCounter, parseAllDocuments, type Document } from "yaml";
import { buildPolicy } from "./build-policy.js";
import type { Diagnostic } from "./diagnostic.js";
import { emptySummary, recordOutcome, type LoadResult } from "./load-result.js";
import { makeLocator } from "./locate.js";

// Bounds the expansion of YAML aliases ("billion laughs").
const MAX_ALIAS_COUNT = 100;

export function parsePolicyText(text: string, file: string): LoadResult {
  const result: LoadResult = { policies: [], diagnostics: [], files: [] };
  const summary = emptySummary(file);
  result.files.push(summary);
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, strict: true, uniqueKeys: true });
  const docs: Document[] = [...parsed];
  if ("empty" in parsed) {
    // An empty stream can still carry errors (e.g. a stray directive).
    for (const err of parsed.errors) result.diagnostics.push(syntaxError(file, lineCounter, err.pos[0], err.message));
  }

  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) result.diagnostics.push(syntaxError(file, lineCounter, err.pos[0], err.message));
      continue;
    }
    if (doc.contents === null) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const start = doc.contents.range?.[0] ?? 0;
      result.diagnostics.push(syntaxError(file, lineCounter, start, err instanceof Error ? err.message : String(err)));
      continue;
    }
    if (value === null || value === undefined) continue;
    const locator = makeLocator(doc, lineCounter, file);
    const obj = typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    if (obj !== undefined && typeof obj["kind"] === "string" && obj["kind"].endsWith("List") && "items" in obj) {
      const items = obj["items"];
      if (!Array.isArray(items)) {
        const pos = locator(["items"]);
        result.diagnostics.push({ severity: "error", code: "L7P_ERR_POLICY_SCHEMA", file, line: pos.line, col: pos.col, fieldPath: "items", message: "items must be a list" });
        continue;
      }
      items.forEach((item, i) => recordOutcome(result, summary, buildPolicy(item, file, locator, ["items", i])));
      continue;
    }
    recordOutcome(result, summary, buildPolicy(value, file, locator));
  }
  return result;
}

function syntaxError(file: string, lineCounter: LineCounter, offset: number, message: string): Diagnostic {
  const { line, col } = lineCounter.linePos(offset);
  // The yaml package appends " at line L, column C:" plus a source excerpt; the position is
  // already in front, so keep only the first line of its message.
  const first = message.split("\n")[0] ?? message;
  return { severity: "error", code: "L7P_ERR_YAML_SYNTAX", file, line, col, fieldPath: "", message: first.replace(/ at line \d+, column \d+:?$/, "") };
}
