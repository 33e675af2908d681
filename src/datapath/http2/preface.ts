// HTTP/2 cleartext with prior knowledge (RFC 9113 §3.3) starts with this 24-byte preface;
// on a port with HTTP rules, a connection whose first bytes are the preface is HTTP/2, any
// other is HTTP/1.1 (as Envoy's codec AUTO does). The preface may arrive over several reads,
// so the decision waits until the bytes seen either differ from it or cover all of it.

export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type SniffResult = "h2" | "http1" | "more";

/** Decides on the first bytes of a connection (all bytes received so far). */
export function matchPreface(head: Uint8Array): SniffResult {
  const n = Math.min(head.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== H2_PREFACE[i]) return "http1";
  return n === H2_PREFACE.length ? "h2" : "more";
}
