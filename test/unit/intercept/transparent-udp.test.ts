// The addon's client-address UDP socket (udpUpstream), used in-process: IP_TRANSPARENT and
// IPV6_TRANSPARENT binds of addresses that are not local, a kernel-chosen port, SO_MARK, and
// a datagram leaving with that source. Needs CAP_NET_ADMIN (root); no kernel rules are changed.
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../src/errors/codes.js";
import { ClientUdpSocket, type Datagram, TransparentUdpListener } from "../../../src/intercept/transparent-udp.js";

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

// Reads take bursts (one recvmmsg for up to 64 datagrams): nothing may be lost, cut, reordered
// or attributed to the wrong sender across the bursts.
describe.runIf(canRun)("reading bursts", () => {
  async function sendAll(from: dgram.Socket, port: number, datagrams: Buffer[]): Promise<void> {
    for (const d of datagrams) await new Promise<void>((resolve, reject) => from.send(d, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
  }

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  test("a client socket gets every answer of a burst longer than one read, whole and in order, a 60,000-byte one too", async () => {
    const peer = dgram.createSocket("udp4");
    peer.bind(0, "127.0.0.1");
    await once(peer, "listening");
    cleanup.push(() => peer.close());
    const got: Datagram[] = [];
    const s = ClientUdpSocket.open({ host: "127.0.0.1", mark: 0, peer: { ip: "127.0.0.1", port: (peer.address() as { port: number }).port } }, (d) => got.push(d), () => {});
    cleanup.push(() => s.close());
    const small = Array.from({ length: 100 }, (_, i) => Buffer.from(`answer ${i}`));
    const big = Buffer.alloc(60_000, 0x61);
    await sendAll(peer, s.info().port, [...small, big]);
    await until(() => got.length === 101);
    expect(got.map((d) => d.data.length > 100 ? `big ${d.data.length}` : d.data.toString())).toEqual([...small.map((b) => b.toString()), "big 60000"]);
    expect(got[100]!.data.equals(big)).toBe(true);
    expect(got.every((d) => d.from.ip === "127.0.0.1" && d.from.port === (peer.address() as { port: number }).port && d.to.ip === "")).toBe(true);
  });

  test("the listener gets every query of bursts from two senders, each with its own sender", async () => {
    const got: Datagram[] = [];
    const probe = dgram.createSocket("udp4");
    probe.bind(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as { port: number }).port;
    probe.close();
    const l = TransparentUdpListener.open({ host: "127.0.0.1", port }, (d) => got.push(d), () => {});
    cleanup.push(() => l.close());
    const a = dgram.createSocket("udp4");
    const b = dgram.createSocket("udp4");
    cleanup.push(() => a.close(), () => b.close());
    a.bind(0, "127.0.0.1");
    b.bind(0, "127.0.0.1");
    await Promise.all([once(a, "listening"), once(b, "listening")]);
    await Promise.all([
      sendAll(a, port, Array.from({ length: 80 }, (_, i) => Buffer.from(`a${i}`))),
      sendAll(b, port, Array.from({ length: 80 }, (_, i) => Buffer.from(`b${i}`))),
    ]);
    await until(() => got.length === 160);
    const portOf = (s: dgram.Socket) => (s.address() as { port: number }).port;
    for (const [sock, tag] of [[a, "a"], [b, "b"]] as const) {
      const mine = got.filter((d) => d.from.port === portOf(sock));
      expect(mine.map((d) => d.data.toString())).toEqual(Array.from({ length: 80 }, (_, i) => `${tag}${i}`));
    }
    // Sent to the listener directly: the destination in the header is the listener's own.
    expect(got.every((d) => d.from.ip === "127.0.0.1" && d.to.port === port)).toBe(true);
  });
});
