// The listener side of the proxy: a burst of new connections is taken from the accept queue
// at once, not one per event-loop turn (libuv 1.45+ accepts one per turn; under load a turn
// lasts tens of milliseconds and a burst of 1,000 connects waited seconds, see
// docs/performance.md "Tail causes"). No policy is loaded, so each connection is refused
// (fail closed) once handled: what matters is when it is handled.

import { once } from "node:events";
import net from "node:net";
import { afterEach, expect, test } from "vitest";
import type { RunConfig } from "../../../src/config/run-config.js";
import { SnapshotHolder } from "../../../src/control/snapshot-holder.js";
import { NO_OBSERVER } from "../../../src/datapath/observer.js";
import { ProxyServer } from "../../../src/datapath/proxy-server.js";
import { queueConnections } from "../../support/queue-connections.js";

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

test("handles every queued connection in the turn the first one is accepted", async () => {
  const server = net.createServer({ allowHalfOpen: true });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const proxy = new ProxyServer(server, { holder: new SnapshotHolder(), observer: NO_OBSERVER, config: {} as RunConfig });
  // Registered after the proxy's own listener: runs right after it handled the first connection.
  const handledByThen = new Promise<number>((resolve) => server.once("connection", () => resolve(proxy.connections)));
  queueConnections((server.address() as net.AddressInfo).port, 8);
  expect(await handledByThen).toBe(8);
  // Each was refused (no policy yet), none is left open.
  while (proxy.connections > 0) await new Promise((r) => setTimeout(r, 10));
});
