// Steady HTTP traffic from inside a pod's network namespace, for tests that change things
// under load (policy reloads, proxy restarts): N keep-alive connections, each sending one
// request after another (or paced to a target rate), counting every outcome.
import { spawnIn } from "../../src/netns/exec.js";

export interface LoadReport {
  sent: number;
  ok: number;
  /** Status code (or error code) -> count, for everything that was not a 200. */
  failures: Record<string, number>;
}

const CLIENT = `
const http = require("node:http");
const [url, connections, durationMs, rate] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connections) });
const report = { sent: 0, ok: 0, failures: {} };
const fail = (k) => (report.failures[k] = (report.failures[k] || 0) + 1);
const end = Date.now() + Number(durationMs);
const perConnGapMs = Number(rate) > 0 ? (1000 * Number(connections)) / Number(rate) : 0;
function one() {
  return new Promise((resolve) => {
    report.sent++;
    const req = http.get(url, { agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => { res.statusCode === 200 ? report.ok++ : fail(String(res.statusCode)); resolve(); });
      res.on("error", (e) => { fail(e.code || "response-error"); resolve(); });
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e) => { fail(e.code || "error"); resolve(); });
  });
}
async function loop(i) {
  let next = Date.now() + (perConnGapMs * i) / Number(connections);
  while (Date.now() < end) {
    if (perConnGapMs > 0) { const wait = next - Date.now(); if (wait > 0) await new Promise((r) => setTimeout(r, wait)); next += perConnGapMs; }
    await one();
  }
}
Promise.all(Array.from({ length: Number(connections) }, (_, i) => loop(i))).then(() => {
  process.stdout.write(JSON.stringify(report));
  agent.destroy();
});
`;

export function runLoad(netns: string, url: string, opts: { connections: number; durationMs: number; rate?: number }): Promise<LoadReport> {
  const child = spawnIn(netns, process.execPath, ["-e", CLIENT, url, String(opts.connections), String(opts.durationMs), String(opts.rate ?? 0)]);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`load client exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as LoadReport);
    });
  });
}
