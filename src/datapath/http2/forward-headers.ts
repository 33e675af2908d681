// The request headers that go upstream for an allowed stream: the client's field lines, in
// order, with :path replaced by the normalized path and the verdict's headerMatches actions
// applied, with cilium-envoy's semantics (as http1/head-rewrite.ts):
//   add     one more field line with that name
//   delete  every field line with that name goes
//   replace the first line with that name gets the value, later ones go; appended if absent
// content-length is never touched (nghttp2 checks the DATA frames against it; changing it
// would make the upstream frame the body differently), and neither are pseudo-headers.

import type { OutgoingHttpHeaders } from "node:http2";
import { L7ProxyError } from "../../errors/codes.js";
import type { HeaderOp } from "../../policy/decision.js";
import { FIELD_VALUE, TOKEN } from "../http1/http-chars.js";
import type { Http2RequestFacts } from "./request-facts.js";

export interface ForwardHeaders {
  headers: OutgoingHttpHeaders;
  /** Ops that were not applied, with why. */
  skipped: string[];
}

const UNTOUCHABLE = new Set(["content-length"]);

export function forwardHeaders(facts: Http2RequestFacts, ops: readonly HeaderOp[] | undefined): ForwardHeaders {
  const raw = facts.raw;
  const skipped: string[] = [];
  let lines: string[] = raw as string[];
  if (ops !== undefined && ops.length > 0) {
    lines = raw.slice();
    for (const op of ops) {
      const name = op.name.toLowerCase();
      if (!isToken(name)) throw new L7ProxyError("L7P_ERR_INTERNAL", `header op with an invalid name ${JSON.stringify(op.name)}`);
      if (op.op !== "delete" && !isFieldValue(op.value)) throw new L7ProxyError("L7P_ERR_INTERNAL", `header op with an invalid value for ${op.name}`);
      if (UNTOUCHABLE.has(name)) {
        skipped.push(`${op.op} ${op.name}: framing header left unchanged`);
        continue;
      }
      if (op.op === "add") {
        lines.push(name, op.value);
      } else if (op.op === "delete") {
        lines = dropAll(lines, name, 0);
      } else {
        const first = indexOfName(lines, name);
        if (first === -1) lines.push(name, op.value);
        else {
          lines[first + 1] = op.value;
          lines = dropAll(lines, name, first + 2);
        }
      }
    }
  }
  const headers: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  for (let i = 0; i < lines.length; i += 2) {
    const name = lines[i]!;
    const value = name === ":path" ? facts.path : lines[i + 1]!;
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev as string, value];
  }
  return { headers, skipped };
}

function indexOfName(lines: string[], name: string): number {
  for (let i = 0; i < lines.length; i += 2) if (lines[i] === name) return i;
  return -1;
}

function dropAll(lines: string[], name: string, from: number): string[] {
  const out = lines.slice(0, from);
  for (let i = from; i < lines.length; i += 2) if (lines[i] !== name) out.push(lines[i]!, lines[i + 1]!);
  return out;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return false;
  }
  return true;
}
