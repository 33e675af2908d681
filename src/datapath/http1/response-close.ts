// Makes a response head announce that the connection closes after it, for a draining proxy
// whose client expected to keep the connection (RFC 9112 §9.6: "close" tells the client not
// to send more requests on it). Only the Connection header changes:
//   - the first Connection line becomes "close" followed by its other tokens, with any
//     "keep-alive" dropped (an HTTP/1.0 client would otherwise keep waiting to reuse it);
//   - later Connection lines lose "keep-alive" (and go when nothing is left);
//   - with no Connection line, "connection: close" is appended to the header block.
// Every other line keeps its bytes and order. A Keep-Alive header (timeout=, max=) is left as
// it is: its parameters are moot once the connection says close, and clients ignore it then.
// Only used while draining, so it may allocate.

const DROP = new Set(["keep-alive", "close"]);

/** The head `raw` (status line through the final CRLF CRLF) with Connection: close. */
export function withConnectionClose(raw: Buffer): Buffer {
  const lines = raw.toString("latin1").split("\r\n");
  // The head ends with CRLF CRLF: split leaves two empty strings at the end.
  const fieldsEnd = lines.length - 2;
  const out: string[] = [lines[0]!];
  let placed = false;
  for (let i = 1; i < fieldsEnd; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (name.toLowerCase() !== "connection") {
      out.push(line);
      continue;
    }
    const tokens = line.slice(colon + 1).split(",").map((t) => t.trim()).filter((t) => t !== "");
    const kept = tokens.filter((t) => !DROP.has(t.toLowerCase()));
    if (!placed) {
      placed = true;
      out.push(`${name}: ${["close", ...kept].join(", ")}`);
    } else if (kept.length === tokens.length) {
      out.push(line);
    } else if (kept.length > 0) {
      out.push(`${name}: ${kept.join(", ")}`);
    }
  }
  if (!placed) out.push("connection: close");
  out.push("", "");
  return Buffer.from(out.join("\r\n"), "latin1");
}
