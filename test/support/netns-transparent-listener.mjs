// A minimal transparent proxy for interception tests, run inside a node namespace with
// `ip netns exec`: the native addon's transparent listener adopted by net.Server, and for
// each accepted connection an upstream connection to its original destination
// (localAddress:localPort), bytes piped both ways. Plain JavaScript because it runs in its
// own `node` process, outside vitest's TypeScript transform.
//
// Environment: LISTEN_PORT (required), LISTEN_HOST (default 0.0.0.0), UPSTREAM_MARK
// (SO_MARK for upstream sockets), PRESERVE_SOURCE=1 (bind upstream sockets to the client's
// address, transparently). Reports one JSON line per event on stdout.

import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const addonPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../build/Release/l7proxy_intercept.node");
const addon = createRequire(import.meta.url)(addonPath);
const log = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
// A dual-stack ("::") listener sees IPv4 peers as ::ffff:a.b.c.d; connect upstream over IPv4.
const plain = (a) => (typeof a === "string" && a.startsWith("::ffff:") ? a.slice(7) : a);

const port = Number(process.env.LISTEN_PORT);
const host = process.env.LISTEN_HOST ?? "0.0.0.0";
const mark = process.env.UPSTREAM_MARK ? Number(process.env.UPSTREAM_MARK) : undefined;
const preserveSource = process.env.PRESERVE_SOURCE === "1";

const server = net.createServer((client) => {
  const accepted = {
    remoteAddress: plain(client.remoteAddress),
    remotePort: client.remotePort,
    localAddress: plain(client.localAddress),
    localPort: client.localPort,
  };
  log({ event: "accepted", ...accepted });
  const fd = addon.upstreamSocket({
    family: net.isIPv6(accepted.localAddress) ? 6 : 4,
    ...(mark !== undefined ? { mark } : {}),
    ...(preserveSource ? { transparent: true, localHost: accepted.remoteAddress } : {}),
  });
  const info = addon.socketInfo(fd);
  // Adopt and connect in the same tick (see connectUpstream in src/intercept/transparent-socket.ts).
  const upstream = new net.Socket({ fd, readable: true, writable: true });
  upstream.connect({ host: accepted.localAddress, port: accepted.localPort }, () => {
    log({
      event: "upstream",
      localAddress: upstream.localAddress,
      localPort: upstream.localPort,
      remoteAddress: plain(upstream.remoteAddress),
      remotePort: upstream.remotePort,
      mark: info.mark,
      transparent: info.transparent,
    });
  });
  upstream.on("error", (err) => {
    log({ event: "upstream-error", code: err.code });
    client.destroy();
  });
  client.on("error", () => upstream.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
});

const fd = addon.listenTransparent({ host, port, reusePort: false });
server.listen({ fd }, () => log({ event: "listening", port, transparent: addon.socketInfo(fd).transparent }));
process.on("SIGTERM", () => {
  server.close();
  process.exit(0);
});
