// What loading one or more policy sources yields. Kept apart so the text parser, the file
// reader and the Kubernetes source share one accumulator.

import type { LoadedPolicy } from "../api/types.js";
import type { BuildOutcome } from "./build-policy.js";
import type { Diagnostic } from "./diagnostic.js";

export interface FileSummary {
  file: string;
  /** Policies loaded without error from this file. */
  policies: number;
  /** Loaded policies by kind. */
  kinds: Record<string, number>;
  /** Objects of other kinds that were skipped, by kind. */
  skipped: Record<string, number>;
}

export interface LoadResult {
  policies: LoadedPolicy[];
  diagnostics: Diagnostic[];
  files: FileSummary[];
}

export function emptySummary(file: string): FileSummary {
  return { file, policies: 0, kinds: {}, skipped: {} };
}

export function recordOutcome(result: LoadResult, summary: FileSummary, outcome: BuildOutcome): void {
  result.diagnostics.push(...outcome.diagnostics);
  if (outcome.kind === "skipped") {
    summary.skipped[outcome.objectKind] = (summary.skipped[outcome.objectKind] ?? 0) + 1;
    return;
  }
  if (outcome.policy === undefined) return;
  result.policies.push(outcome.policy);
  summary.policies++;
  summary.kinds[outcome.policyKind] = (summary.kinds[outcome.policyKind] ?? 0) + 1;
}
