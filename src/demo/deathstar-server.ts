// The demo's deathstar: a plain Node HTTP server that answers like the Star Wars demo
// application does. Started inside a pod network namespace by the demo and the e2e tests.
// It logs every request with the address it came from, and names that address in an
// `x-client-address` header, so anyone can check that the proxy kept the caller's address.
//   node deathstar-server.js PORT NAME

import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 80);
const name = process.argv[3] ?? "deathstar";

const server = createServer((req, res) => {
  const body: Buffer[] = [];
  req.on("data", (d: Buffer) => body.push(d));
  req.on("end", () => {
    const client = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    process.stdout.write(`${name}: ${req.method} ${req.url} from ${client}\n`);
    res.setHeader("x-served-by", name);
    res.setHeader("x-client-address", client);
    if (req.method === "POST" && req.url === "/v1/request-landing") {
      res.end("Ship landed\n");
    } else if (req.method === "PUT" && req.url === "/v1/exhaust-port") {
      res.statusCode = 503;
      res.end("Panic: deathstar exploded\n");
    } else if (req.method === "GET" && req.url === "/v1") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ name: "Death Star", model: "DS-1 Orbital Battle Station", served_by: name }) + "\n");
    } else {
      res.statusCode = 404;
      res.end("Not found\n");
    }
  });
});
server.listen(port, "0.0.0.0", () => process.stdout.write(`listening ${port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
