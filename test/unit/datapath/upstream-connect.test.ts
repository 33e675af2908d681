// The upstream connection's source: the client's address, or, where that cannot work, the
// node's; and a source that cannot be used refuses the connection, counted, never silently
// replaced by the node's address.

import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { connectUpstream } from "../../../src/datapath/upstream-connect.js";
import { NO_OBSERVER, type DatapathObserver } from "../../../src/datapath/observer.js";
import type { ErrorCode } from "../../../src/errors/codes.js";

function recordingObserver(): DatapathObserver & { errors: ErrorCode[]; connectFailures: number } {
  const o = { ...NO_OBSERVER, errors: [] as ErrorCode[], connectFailures: 0 };
  o.connectionError = (code: ErrorCode) => void o.errors.push(code);
  o.upstreamConnectFailure = () => void (o.connectFailures += 1);
  return o;
}

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

describe("upstream connections", () => {
  test("a client address that cannot be bound refuses the connection and is counted", async () => {
    const observer = recordingObserver();
    // An IPv6 client to an IPv4 destination: no socket can carry that source.
    const q = { srcIp: "fd00:9::1", srcPort: 40000, dstIp: "192.0.2.1", dstPort: 80, protocol: "TCP" as const };
    const socket = connectUpstream(q, { timeoutMs: 1000, observer, preserveSource: { mark: 0x80 } });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once("error", resolve));
    expect(err.code).toBe("L7P_ERR_UPSTREAM_SOURCE");
    expect(observer.errors).toEqual(["L7P_ERR_UPSTREAM_SOURCE"]);
    expect(observer.connectFailures).toBe(0);
    expect(socket.remoteAddress).toBeUndefined();
  });

  test("a destination on this node is reached from the node's address", async () => {
    const seen: string[] = [];
    const server = net.createServer((c) => {
      seen.push(c.remoteAddress ?? "");
      c.end();
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const observer = recordingObserver();
    const q = { srcIp: "10.9.9.9", srcPort: 40000, dstIp: "127.0.0.1", dstPort: port, protocol: "TCP" as const };
    const socket = connectUpstream(q, { timeoutMs: 1000, observer, preserveSource: { mark: 0x80 } });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["127.0.0.1"]);
    expect(observer.errors).toEqual([]);
  });
});
