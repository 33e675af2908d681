// A plain HTTP/2 (h2c) upstream for tests, benchmarks and demos, on node:http2's core API:
// answers every request with 200 and "NAME METHOD PATH BODY_BYTES\n", like echo-server.ts
// does for HTTP/1.
//   node h2-server.js PORT NAME

import { createServer } from "node:http2";

const port = Number(process.argv[2] ?? 8080);
const name = process.argv[3] ?? "upstream";

const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  let bytes = 0;
  stream.on("data", (d: Buffer) => (bytes += d.length));
  stream.on("end", () => {
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "content-type": "text/plain", "x-served-by": name });
    stream.end(`${name} ${String(headers[":method"])} ${String(headers[":path"])} ${bytes}\n`);
  });
});
server.on("sessionError", () => {});
server.listen(port, "0.0.0.0", () => process.stdout.write(`listening ${port}\n`));
process.on("SIGTERM", () => process.exit(0));
