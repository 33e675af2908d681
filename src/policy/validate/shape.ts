// A small structural schema language for policy manifests, and its checker. It mirrors what
// the CRD openAPIV3Schema says (types, enums, patterns, lengths, required keys) and adds two
// things the Kubernetes API server does not do for us: unknown fields are errors (a typo such as
// `fromEndpoint` must never silently widen a policy), and value checks that only Cilium's agent
// performs (RE2 regexes, CIDR containment, port ranges) run in the same pass.

import type { ErrorCode } from "../../errors/codes.js";
import type { IssueSink, PathSegment } from "./issue.js";

export interface ValueProblem {
  code: ErrorCode;
  message: string;
}

export type ValueCheck<T> = (value: T) => ValueProblem | undefined;

export interface ObjectShape {
  kind: "object";
  fields: Readonly<Record<string, Shape>>;
  required?: readonly string[];
  /** Accept keys not in `fields` (metadata, status): Kubernetes owns their shape, not us. */
  open?: boolean;
  /**
   * Fields of older Cilium versions that the CRD no longer has: Kubernetes prunes them on
   * apply, so they load with a warning (the value says what replaced them) and are dropped.
   */
  obsolete?: Readonly<Record<string, string>>;
}
export interface MapShape {
  kind: "map";
  values: Shape;
}
export interface ArrayShape {
  kind: "array";
  items: Shape;
  /** Accept null as "absent", as Kubernetes decodes built-in types (not CRDs). */
  nullable?: boolean;
  minItems?: number;
  maxItems?: number;
}
export interface StringShape {
  kind: "string";
  enum?: readonly string[];
  pattern?: RegExp;
  /** What the pattern means, for the error message. */
  patternHint?: string;
  minLength?: number;
  maxLength?: number;
  check?: ValueCheck<string>;
}
export interface IntegerShape {
  kind: "integer";
  min?: number;
  max?: number;
  /** Code for a value out of range (ports get their own). */
  rangeCode?: ErrorCode;
}
export interface BooleanShape {
  kind: "boolean";
}
export interface IntOrStringShape {
  kind: "int-or-string";
  check?: ValueCheck<number | string>;
}
export interface AnyShape {
  kind: "any";
}

export type Shape =
  | ObjectShape
  | MapShape
  | ArrayShape
  | StringShape
  | IntegerShape
  | BooleanShape
  | IntOrStringShape
  | AnyShape;

export const obj = (fields: Record<string, Shape>, required?: readonly string[]): ObjectShape =>
  required === undefined ? { kind: "object", fields } : { kind: "object", fields, required };
export const arr = (items: Shape, limits: { minItems?: number; maxItems?: number; nullable?: boolean } = {}): ArrayShape => ({
  kind: "array",
  items,
  ...limits,
});
export const str = (opts: Omit<StringShape, "kind"> = {}): StringShape => ({ kind: "string", ...opts });
export const int = (opts: Omit<IntegerShape, "kind"> = {}): IntegerShape => ({ kind: "integer", ...opts });
export const bool: BooleanShape = { kind: "boolean" };
export const anyValue: AnyShape = { kind: "any" };
export const map = (values: Shape): MapShape => ({ kind: "map", values });

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null (an empty value)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)})`;
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Record<Shape["kind"], string> = {
  object: "an object",
  map: "an object of string values",
  array: "a list",
  string: "a string",
  integer: "an integer",
  boolean: "a boolean (true or false)",
  "int-or-string": "an integer or a string",
  any: "anything",
};

/** Checks `value` against `shape`, reporting every problem; never throws on odd input. */
export function checkShape(value: unknown, shape: Shape, path: PathSegment[], sink: IssueSink): void {
  const wrongType = (): void => {
    let hint = "";
    if (shape.kind === "string" && typeof value === "number") hint = ` (quote it: "${value}")`;
    sink.error("L7P_ERR_POLICY_SCHEMA", path, `must be ${EXPECTED[shape.kind]}, not ${describe(value)}${hint}`);
  };
  switch (shape.kind) {
    case "any":
      return;
    case "object": {
      if (!isPlainObject(value)) return wrongType();
      for (const [key, child] of Object.entries(value)) {
        const fieldShape = shape.fields[key];
        if (fieldShape === undefined) {
          if (shape.open === true) continue;
          const replacement = shape.obsolete?.[key];
          if (replacement !== undefined) {
            sink.issues.push({
              severity: "warning",
              code: "L7P_WARN_POLICY_IGNORED_FIELD",
              path: [...path, key],
              at: "key",
              message: `"${key}" is an obsolete field that Kubernetes drops and Cilium ignores (${replacement}); the rule applies without it`,
              prune: true,
            });
            continue;
          }
          sink.error("L7P_ERR_POLICY_UNKNOWN_FIELD", [...path, key], unknownFieldMessage(key, Object.keys(shape.fields)), "key");
          continue;
        }
        checkShape(child, fieldShape, [...path, key], sink);
      }
      for (const key of shape.required ?? []) {
        if (!(key in value)) sink.error("L7P_ERR_POLICY_MISSING", [...path, key], `required field is missing`);
      }
      return;
    }
    case "map": {
      if (!isPlainObject(value)) return wrongType();
      for (const [key, child] of Object.entries(value)) checkShape(child, shape.values, [...path, key], sink);
      return;
    }
    case "array": {
      if (value === null && shape.nullable === true) return;
      if (!Array.isArray(value)) return wrongType();
      if (shape.maxItems !== undefined && value.length > shape.maxItems) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, `too many items: ${value.length}, at most ${shape.maxItems} allowed`);
      }
      if (shape.minItems !== undefined && value.length < shape.minItems) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, `needs at least ${shape.minItems} item(s)`);
      }
      value.forEach((item, i) => checkShape(item, shape.items, [...path, i], sink));
      return;
    }
    case "string": {
      if (typeof value !== "string") return wrongType();
      if (shape.enum !== undefined && !shape.enum.includes(value)) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, `invalid value ${JSON.stringify(value)}: must be one of ${shape.enum.join(", ")}`);
        return;
      }
      if (shape.maxLength !== undefined && [...value].length > shape.maxLength) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, `too long: ${[...value].length} characters, at most ${shape.maxLength}`);
        return;
      }
      if (shape.minLength !== undefined && [...value].length < shape.minLength) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, shape.minLength === 1 ? "must not be empty" : `too short: at least ${shape.minLength} characters`);
        return;
      }
      if (shape.pattern !== undefined && !shape.pattern.test(value)) {
        sink.error("L7P_ERR_POLICY_SCHEMA", path, `invalid value ${JSON.stringify(value)}: ${shape.patternHint ?? `must match ${String(shape.pattern)}`}`);
        return;
      }
      const problem = shape.check?.(value);
      if (problem !== undefined) sink.error(problem.code, path, problem.message);
      return;
    }
    case "integer": {
      if (typeof value !== "number" || !Number.isInteger(value)) return wrongType();
      if ((shape.min !== undefined && value < shape.min) || (shape.max !== undefined && value > shape.max)) {
        sink.error(shape.rangeCode ?? "L7P_ERR_POLICY_SCHEMA", path, `${value} is out of range ${shape.min ?? "-inf"}..${shape.max ?? "inf"}`);
      }
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") wrongType();
      return;
    case "int-or-string": {
      if (!(typeof value === "string" || (typeof value === "number" && Number.isInteger(value)))) return wrongType();
      const problem = shape.check?.(value);
      if (problem !== undefined) sink.error(problem.code, path, problem.message);
      return;
    }
  }
}

function unknownFieldMessage(key: string, known: string[]): string {
  const near = closest(key, known);
  return near === undefined ? `unknown field "${key}"` : `unknown field "${key}" (did you mean "${near}"?)`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}
