// An upstream for tests, benchmarks and demos: answers every request with 200 and a short
// description of what it got, and (optionally) appends every raw byte it receives to a
// file, so a test can prove what did or did not reach the upstream.
//   node echo-server.js PORT NAME [RECORD_FILE]

import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 8080);
const name = process.argv[3] ?? "upstream";
const recordFile = process.argv[4];

const server = createServer((req, res) => {
  let bytes = 0;
  req.on("data", (d: Buffer) => (bytes += d.length));
  req.on("end", () => {
    res.setHeader("x-served-by", name);
    // Who the server saw calling: the client pod's own address when the proxy preserves it.
    res.setHeader("x-client-address", req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "");
    res.setHeader("content-type", "text/plain");
    res.end(`${name} ${req.method} ${req.url} ${bytes}\n`);
  });
});
if (recordFile !== undefined) {
  // Record at the socket level: the bytes exactly as they arrived, before Node parses them.
  server.on("connection", (socket) => socket.on("data", (d: Buffer) => appendFileSync(recordFile, d)));
}
server.keepAliveTimeout = 60_000;
// Dual stack: IPv4 and IPv6 clients (IPv4 ones appear as ::ffff:a.b.c.d).
server.listen(port, "::", () => process.stdout.write(`listening ${port}\n`));
process.on("SIGTERM", () => process.exit(0));
