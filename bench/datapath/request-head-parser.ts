// Micro-benchmark of the HTTP/1.1 request framer: nanoseconds to frame one request head
// (scan for its end, validate every byte, extract method/target/host/framing) plus one
// header lookup as a policy with a header rule would make. Prints only.
//
//   npx tsc -p bench/datapath/tsconfig.json && node dist-bench/bench/datapath/request-head-parser.js

import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import * as rq from "../../src/datapath/http1/request-framer.js";

const HEADS: Record<string, string> = {
  curl: "GET /public/v1/request-landing HTTP/1.1\r\nHost: deathstar.empire.svc.cluster.local\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
  wrk: "GET /public/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
  browser:
    "GET /api/v2/items?page=3&sort=desc HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive\r\n" +
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"\r\nsec-ch-ua-mobile: ?0\r\n" +
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
    "Accept: application/json, text/plain, */*\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n" +
    "Referer: https://shop.example.com/items\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n" +
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\nX-Request-Id: 7f1c9b0e-2b7a-4c55-9d0e-1f2a3b4c5d6e\r\n\r\n",
  post: "POST /v1/request-landing HTTP/1.1\r\nHost: deathstar\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
};

export interface ParserResult {
  name: string;
  bytes: number;
  /** Wall-clock time per head. */
  nsPerHead: number;
  /** CPU time per head: steadier than wall time on a shared machine. */
  cpuNsPerHead: number;
  headsPerSecond: number;
}

function measure(name: string, text: string, iterations: number): ParserResult {
  const buf = Buffer.from(text, "latin1");
  const framer = new rq.RequestFramer();
  let sink = 0;
  const once = () => {
    let pos = 0;
    for (;;) {
      const ev = framer.execute(buf, pos);
      if (ev === rq.NEED_MORE) break;
      if (ev === rq.HEAD) {
        const h = framer.head!;
        sink += h.method.length + h.host.length + (h.header("x-request-id")?.length ?? 0);
      } else if (ev !== rq.BODY && ev !== rq.END) {
        throw new Error(`unexpected event ${ev}`);
      }
      pos = framer.pos;
    }
  };
  for (let i = 0; i < 20_000; i++) once();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) once();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  if (sink === 0) throw new Error("nothing parsed");
  const ns = (ms * 1e6) / iterations;
  const cpuNs = ((cpu.user + cpu.system) * 1e3) / iterations;
  return { name, bytes: buf.length, nsPerHead: ns, cpuNsPerHead: cpuNs, headsPerSecond: 1e9 / cpuNs };
}

export function runParserBench(iterations = 500_000): ParserResult[] {
  return Object.entries(HEADS).map(([name, text]) => measure(name, text, iterations));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const r of runParserBench()) {
    console.log(
      `${r.name.padEnd(8)} ${String(r.bytes).padStart(4)} B  ${r.cpuNsPerHead.toFixed(0).padStart(5)} ns/head (cpu)  ` +
        `${r.nsPerHead.toFixed(0).padStart(5)} ns/head (wall)  ${(r.headsPerSecond / 1e6).toFixed(2)} M heads/s per core`,
    );
  }
}
