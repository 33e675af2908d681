// A problem found in one manifest, before it is tied to a file position. Validation is pure:
// it sees a parsed value and reports paths; the loader turns paths into file:line:col.

import type { ErrorCode } from "../../errors/codes.js";

export type Severity = "error" | "warning" | "note";

/** A step into a manifest: an object key or an array index. */
export type PathSegment = string | number;

export interface Issue {
  severity: Severity;
  code: ErrorCode;
  path: readonly PathSegment[];
  /** Point at the key itself (unknown or ignored fields) or at its value (everything else). */
  at: "key" | "value";
  message: string;
  /** The loader removes this field from the loaded policy, as Kubernetes prunes it. */
  prune?: boolean;
}

/** `spec.ingress[0].toPorts` style, as Cilium and kubectl print field paths. */
export function formatFieldPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    // Label keys such as "k8s:app" or "io.kubernetes.pod.namespace" are quoted so the path
    // stays unambiguous.
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function parseFieldPath(fieldPath: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\./gy;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < fieldPath.length && (m = re.exec(fieldPath)) !== null) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

/** Collects issues under a base path, so nested checkers need not thread paths by hand. */
export class IssueSink {
  readonly issues: Issue[] = [];

  error(code: ErrorCode, path: readonly PathSegment[], message: string, at: "key" | "value" = "value"): void {
    this.issues.push({ severity: "error", code, path: [...path], at, message });
  }

  warn(code: ErrorCode, path: readonly PathSegment[], message: string, at: "key" | "value" = "value"): void {
    this.issues.push({ severity: "warning", code, path: [...path], at, message });
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === "error");
  }
}
