// Applies headerMatches ADD / DELETE / REPLACE to a request head and serialises the result.
// Only then is a head rebuilt; untouched field lines keep their exact bytes and order.
// Semantics follow cilium-envoy's HeaderMatch actions:
//   add     append another field line (Envoy addCopy: one more value)
//   delete  remove every line with that name
//   replace the first line with that name gets the new value, later ones go (Envoy setCopy);
//           appended when absent
// Content-Length and Transfer-Encoding are never touched: changing them would make the
// upstream frame the body differently from the proxy, which is request smuggling by policy.
// The request line is rebuilt only when path normalization changed the target.

import { L7ProxyError } from "../../errors/codes.js";
import type { HeaderOp } from "../../policy/decision.js";
import { FIELD_VALUE, TOKEN } from "./http-chars.js";
import type { RequestHead } from "./request-head.js";

interface Line {
  nameLower: string;
  /** Original bytes (CRLF included) or a new line's text. */
  bytes: Buffer | string;
}

export interface RewriteResult {
  raw: Buffer;
  /** Ops that were not applied, with why. */
  skipped: string[];
}

const FRAMING = new Set(["content-length", "transfer-encoding"]);

/**
 * The ops that take a non-WebSocket upgrade out of a head (Upgrade, HTTP2-Settings, and the
 * Connection tokens naming them; `connection` is what Connection keeps), then the policy's.
 */
export function withUpgradeStripped(connection: string, ops: readonly HeaderOp[] | undefined): HeaderOp[] {
  const strip: HeaderOp[] = [
    { op: "delete", name: "upgrade" },
    { op: "delete", name: "http2-settings" },
    connection === "" ? { op: "delete", name: "connection" } : { op: "replace", name: "connection", value: connection },
  ];
  return ops === undefined || ops.length === 0 ? strip : [...strip, ...ops];
}

export function applyHeaderOps(head: RequestHead, ops: readonly HeaderOp[]): RewriteResult {
  const raw = head.buf;
  const f = head.fields;
  const lines: Line[] = [];
  let lineStart = head.fieldsStart;
  for (let i = 0; i < f.length; i += 4) {
    // A field line ends at the CRLF after its value (OWS trimmed off the value offset).
    const lineEnd = raw.indexOf(10, f[i + 3]!) + 1;
    lines.push({ nameLower: head.fieldName(i >> 2).toLowerCase(), bytes: raw.subarray(lineStart, lineEnd) });
    lineStart = lineEnd;
  }
  const skipped: string[] = [];
  for (const op of ops) {
    const name = op.name.toLowerCase();
    if (!isToken(op.name)) throw new L7ProxyError("L7P_ERR_INTERNAL", `header op with an invalid name ${JSON.stringify(op.name)}`);
    if (op.op !== "delete" && !isFieldValue(op.value)) {
      throw new L7ProxyError("L7P_ERR_INTERNAL", `header op with an invalid value for ${op.name}`);
    }
    if (FRAMING.has(name)) {
      skipped.push(`${op.op} ${op.name}: framing header left unchanged`);
      continue;
    }
    if (op.op === "add") {
      lines.push({ nameLower: name, bytes: `${op.name}: ${op.value}\r\n` });
    } else if (op.op === "delete") {
      for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.nameLower === name) lines.splice(i, 1);
    } else {
      const first = lines.findIndex((l) => l.nameLower === name);
      const line: Line = { nameLower: name, bytes: `${op.name}: ${op.value}\r\n` };
      if (first === -1) {
        lines.push(line);
      } else {
        lines[first] = line;
        for (let i = lines.length - 1; i > first; i--) if (lines[i]!.nameLower === name) lines.splice(i, 1);
      }
    }
  }
  const parts: Buffer[] = [requestLine(head)];
  for (const l of lines) parts.push(typeof l.bytes === "string" ? Buffer.from(l.bytes, "latin1") : l.bytes);
  parts.push(Buffer.from("\r\n"));
  return { raw: Buffer.concat(parts), skipped };
}

/** The head to forward when only the target changed: new request line, field lines as received. */
export function withForwardTarget(head: RequestHead): Buffer {
  return Buffer.concat([requestLine(head), head.buf.subarray(head.fieldsStart, head.end)]);
}

/** The request line to forward, CRLF included: as received unless normalization changed the target. */
function requestLine(head: RequestHead): Buffer {
  if (head.forwardTarget === null) return head.buf.subarray(head.start, head.fieldsStart);
  return Buffer.from(`${head.method} ${head.forwardTarget} HTTP/1.${head.minorVersion}\r\n`, "latin1");
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
