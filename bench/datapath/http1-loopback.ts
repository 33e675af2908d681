// Loopback throughput of the HTTP/1.1 session against a direct connection and, when
// installed, HAProxy doing the same filtering (one path rule, 403 otherwise). The upstream
// is a minimal keep-alive HTTP server in a worker thread, the load generator is wrk in its
// own process. Prints only; the real comparison lives in bench/load.
//
//   npx tsc -p bench/datapath/tsconfig.json && node dist-bench/bench/datapath/http1-loopback.js [seconds] [connections]

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { runHttp1Session } from "../../src/datapath/http1/http1-session.js";

const run = promisify(execFile);

// Answers every request head (counted by its CRLF CRLF) with a 13-byte body.
const UPSTREAM = `
const net = require("node:net");
const { parentPort } = require("node:worker_threads");
const RESP = Buffer.from("HTTP/1.1 200 OK\\r\\ncontent-length: 13\\r\\ncontent-type: text/plain\\r\\n\\r\\nHello, world!");
const server = net.createServer((s) => {
  s.setNoDelay(true);
  let tail = 0;
  s.on("data", (d) => {
    let n = 0;
    for (let i = 0; i < d.length; i++) {
      const b = d[i];
      tail = b === 10 ? (tail === 3 ? 4 : tail === 1 ? 2 : 0) : b === 13 ? (tail === 2 ? 3 : 1) : 0;
      if (tail === 4) { n++; tail = 0; }
    }
    if (n === 1) s.write(RESP); else if (n > 1) s.write(Buffer.concat(Array(n).fill(RESP)));
  });
  s.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
`;

async function wrk(url: string, seconds: number, connections: number): Promise<number> {
  const { stdout } = await run("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`wrk output not understood:\n${stdout}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  if (non2xx) throw new Error(`${non2xx[1]} failed responses from ${url}`);
  return Number(m[1]);
}

async function startHaproxy(upstreamPort: number, dir: string): Promise<{ port: number; proc: ChildProcess } | null> {
  try {
    await run("haproxy", ["-v"]);
  } catch {
    return null;
  }
  const port = await freePort();
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    `global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n` +
      `frontend fe\n  bind 127.0.0.1:${port}\n  http-request deny deny_status 403 unless { path_beg /public }\n  default_backend be\n` +
      `backend be\n  http-reuse never\n  server s1 127.0.0.1:${upstreamPort}\n`,
  );
  const proc = spawn("haproxy", ["-f", cfg, "-db"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  return { port, proc };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function runLoopbackBench(seconds = 5, connections = 50): Promise<void> {
  const worker = new Worker(UPSTREAM, { eval: true });
  const upstreamPort = await new Promise<number>((resolve) => worker.once("message", resolve));
  const rule = /^\/public(\/|$)/;
  const proxy = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    runHttp1Session(client, {
      connectUpstream: () => connect({ port: upstreamPort, host: "127.0.0.1", noDelay: true }),
      decide: (req) => ({ allowed: rule.test(req.path), headerOps: [] }),
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), "l7p-bench-"));
  const haproxy = await startHaproxy(upstreamPort, dir);
  try {
    const direct = await wrk(`http://127.0.0.1:${upstreamPort}/public/x`, seconds, connections);
    const viaSession = await wrk(`http://127.0.0.1:${proxyPort}/public/x`, seconds, connections);
    console.log(`direct            ${direct.toFixed(0).padStart(8)} req/s`);
    console.log(`http1 session     ${viaSession.toFixed(0).padStart(8)} req/s  (${(viaSession / direct).toFixed(2)}x direct)`);
    if (haproxy !== null) {
      const viaHaproxy = await wrk(`http://127.0.0.1:${haproxy.port}/public/x`, seconds, connections);
      console.log(`haproxy nbthread1 ${viaHaproxy.toFixed(0).padStart(8)} req/s  (session/haproxy ${(viaSession / viaHaproxy).toFixed(2)}x)`);
    } else {
      console.log("haproxy not installed: no comparison");
    }
    console.log(`(${seconds}s per run, ${connections} keep-alive connections, wrk -t1; the session shares this process with nothing else)`);
  } finally {
    haproxy?.proc.kill();
    proxy.close();
    await worker.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const seconds = Number(process.argv[2] ?? 5);
  const connections = Number(process.argv[3] ?? 50);
  runLoopbackBench(seconds, connections).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
