// One message about a policy file, tied to a position: what `validate` prints and what the
// control plane logs when it keeps the last good version of a policy.

import type { ErrorCode } from "../../errors/codes.js";
import type { Severity } from "../validate/index.js";

export interface Diagnostic {
  severity: Severity;
  code: ErrorCode;
  file: string;
  /** 1-based; 0 when the value came without positions (e.g. from the Kubernetes API). */
  line: number;
  col: number;
  /** `spec.ingress[0].toPorts[0]`; "" when the problem is about the whole file or document. */
  fieldPath: string;
  message: string;
}

/**
 * `file:line:col: field.path: message`, the format compilers use so editors can jump to it.
 * Warnings and notes say so before the message; the position is left out when unknown.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file;
  const field = d.fieldPath === "" ? "" : ` ${d.fieldPath}:`;
  const prefix = d.severity === "error" ? "" : `${d.severity}: `;
  return `${where}:${field} ${prefix}${d.message}`;
}
