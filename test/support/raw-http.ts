// Sending exact bytes from inside a pod's network namespace: a one-shot Node client run with
// `ip netns exec`, for requests that curl refuses to send (smuggling shapes, pipelining).
import { runIn } from "../../src/netns/exec.js";

export interface RawExchange {
  /** Everything the peer sent back until it closed or the timeout hit. */
  response: string;
  /** "closed" when the peer closed, "timeout" when it went quiet, "reset" on ECONNRESET, or an error code. */
  end: string;
}

const CLIENT = `
const net = require("node:net");
const [host, port, gapMs, waitMs] = process.argv.slice(1);
const parts = require("node:fs").readFileSync(0, "utf8").split(",").map((b) => Buffer.from(b, "base64"));
const s = net.connect(Number(port), host);
let out = Buffer.alloc(0);
let end = "timeout";
s.on("data", (d) => (out = Buffer.concat([out, d])));
s.on("connect", () => parts.forEach((p, i) => setTimeout(() => s.writable && s.write(p), i * Number(gapMs))));
s.on("end", () => (end = "closed"));
s.on("error", (e) => (end = e.code === "ECONNRESET" ? "reset" : e.code));
s.on("close", () => finish());
const timer = setTimeout(() => { s.destroy(); finish(); }, Number(waitMs));
let done = false;
function finish() { if (done) return; done = true; clearTimeout(timer); process.stdout.write(JSON.stringify({ response: out.toString("latin1"), end })); }
`;

/**
 * Connects, writes each part (gapMs apart, on the same connection), and collects the answer
 * until the peer closes or waitMs passes.
 */
export async function rawExchange(
  netns: string,
  host: string,
  port: number,
  payload: string | Buffer | (string | Buffer)[],
  opts: { waitMs?: number; gapMs?: number } = {},
): Promise<RawExchange> {
  const parts = (Array.isArray(payload) ? payload : [payload]).map((p) => Buffer.from(p).toString("base64")).join(",");
  const r = await runIn(netns, process.execPath, ["-e", CLIENT, host, String(port), String(opts.gapMs ?? 0), String(opts.waitMs ?? 1500)], {
    input: parts,
  });
  return JSON.parse(r.stdout) as RawExchange;
}
