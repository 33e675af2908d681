// Defensive readers for values that may have failed the shape check: semantic rules run on
// every manifest so that all problems are reported at once, and must not trip over a string
// where a list was expected.

import { isPlainObject } from "./shape.js";

export type Obj = Record<string, unknown>;

export const asObj = (v: unknown): Obj | undefined => (isPlainObject(v) ? v : undefined);
export const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const asStr = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Present with a non-null value (Kubernetes treats `field: null` like an omitted field). */
export const has = (o: Obj, key: string): boolean => key in o && o[key] !== null && o[key] !== undefined;

/** A list field that is present and non-empty. */
export const nonEmpty = (o: Obj, key: string): boolean => Array.isArray(o[key]) && (o[key] as unknown[]).length > 0;
