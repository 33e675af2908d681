// The addon's client-address UDP socket (udpUpstream), used in-process: IP_TRANSPARENT and
// IPV6_TRANSPARENT binds of addresses that are not local, a kernel-chosen port, SO_MARK, and
// a datagram leaving with that source. Needs CAP_NET_ADMIN (root); no kernel rules are changed.
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../src/errors/codes.js";
import { ClientUdpSocket } from "../../../src/intercept/transparent-udp.js";

const canRun = process.env["CI"] === "true" || process.getuid?.() === 0;
if (!canRun) process.stderr.write("SKIPPED transparent-udp tests: IP_TRANSPARENT and SO_MARK need root (set CI=true to force)\n");

// Documentation prefixes: never local, so only a transparent socket can bind them.
const NON_LOCAL = "192.0.2.77";
const NON_LOCAL6 = "2001:db8::77";

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

function open(host: string, mark = 0x80, peer = { ip: host.includes(":") ? "2001:db8::53" : "192.0.2.53", port: 53 }): ClientUdpSocket {
  const s = ClientUdpSocket.open({ host, mark, peer }, () => {}, () => {});
  cleanup.push(() => s.close());
  return s;
}

describe.runIf(canRun)("ClientUdpSocket", () => {
  test("binds a client's (non-local) IPv4 address on a port the kernel picks, marked and transparent", () => {
    const a = open(NON_LOCAL).info();
    const b = open(NON_LOCAL).info();
    expect(a).toMatchObject({ host: NON_LOCAL, mark: 0x80, transparent: true });
    expect(a.port).toBeGreaterThan(0);
    // Two sockets for one address get two ports.
    expect(b.port).not.toBe(a.port);
  });

  test("and an IPv6 one (IPV6_TRANSPARENT)", () => {
    expect(open(NON_LOCAL6, 0x1234).info()).toMatchObject({ host: NON_LOCAL6, mark: 0x1234, transparent: true });
  });

  test("what it sends to its peer carries the client's address", async () => {
    const server = dgram.createSocket("udp4");
    server.bind(0, "127.0.0.1");
    await once(server, "listening");
    cleanup.push(() => server.close());
    const got = once(server, "message") as Promise<[Buffer, dgram.RemoteInfo]>;
    const s = open(NON_LOCAL, 0x80, { ip: "127.0.0.1", port: (server.address() as { port: number }).port });
    s.send(Buffer.from("query"));
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe("query");
    expect(rinfo).toMatchObject({ address: NON_LOCAL, port: s.info().port });
  });

  test("an address it cannot bind, or a peer of the other family, is refused as L7P_ERR_UPSTREAM_SOURCE", () => {
    for (const [host, peer] of [["not-an-ip", "192.0.2.53"], [NON_LOCAL, "2001:db8::53"]] as const) {
      let err: unknown;
      try {
        open(host, 0x80, { ip: peer, port: 53 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(L7ProxyError);
      expect((err as L7ProxyError).code).toBe("L7P_ERR_UPSTREAM_SOURCE");
    }
  });

  test("connected to its peer: datagrams from anyone else are not delivered to it", async () => {
    const got: string[] = [];
    const s = ClientUdpSocket.open({ host: "127.0.0.1", mark: 0, peer: { ip: "127.0.0.1", port: 9 } }, (d) => got.push(d.data.toString()), () => {});
    cleanup.push(() => s.close());
    const stranger = dgram.createSocket("udp4");
    cleanup.push(() => stranger.close());
    await new Promise<void>((resolve) => stranger.send("stranger", s.info().port, "127.0.0.1", () => resolve()));
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
  });

  test("closing twice is harmless, and a closed socket refuses to send", () => {
    const s = open(NON_LOCAL);
    s.close();
    s.close();
    expect(() => s.send(Buffer.from("x"))).toThrow(/closed/);
  });
});
