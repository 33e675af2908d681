// The forwarder with fake client sockets (which address a query leaves from, which answers
// count, failures), and with its real node socket against a local UDP server.
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, test } from "vitest";
import { type ClientSocket, type PreserveSource, UdpForwarder } from "../../../../src/datapath/dns/udp-forwarder.js";

class FakeClientSocket implements ClientSocket {
  readonly sent: Buffer[] = [];
  closed = false;
  constructor(
    readonly client: string,
    readonly resolver: { ip: string; port: number },
    readonly deliver: (msg: Buffer, from: { ip: string; port: number }) => void,
    readonly failSend: Error | null,
  ) {}
  send(data: Buffer): void {
    if (this.failSend !== null) throw this.failSend;
    this.sent.push(data);
  }
  close(): void {
    this.closed = true;
  }
}

const NODE_LOCAL = new Set(["10.200.255.1", "127.0.0.1", "::1"]);
const forwarders: UdpForwarder[] = [];
afterEach(() => {
  while (forwarders.length > 0) forwarders.pop()!.close();
});

function setup(opts: { maxSockets?: number; failOpen?: string[]; failSendTo?: string[]; preserve?: boolean } = {}) {
  let now = 0;
  const opened: FakeClientSocket[] = [];
  const preserve: PreserveSource = {
    maxSockets: opts.maxSockets ?? 16,
    idleMs: 5000,
    open: (client, resolver, onAnswer) => {
      if (opts.failOpen?.includes(client)) throw new Error(`cannot bind ${client}`);
      const fail = opts.failSendTo?.includes(resolver.ip) === true ? Object.assign(new Error("sendto"), { code: "ENETUNREACH" }) : null;
      const s = new FakeClientSocket(client, resolver, onAnswer, fail);
      opened.push(s);
      return s;
    },
  };
  const f = new UdpForwarder({ timeoutMs: 1000, preserveSource: opts.preserve === false ? null : preserve, now: () => now, isLocal: (ip) => NODE_LOCAL.has(ip) });
  forwarders.push(f);
  /** The socket from client to resolver (port 53 unless given). */
  const socket = (client: string, resolver: string, port = 53): FakeClientSocket => {
    const s = opened.find((o) => o.client === client && o.resolver.ip === resolver && o.resolver.port === port && !o.closed);
    if (s === undefined) throw new Error(`no socket ${client} -> ${resolver}:${port}`);
    return s;
  };
  return { f, opened, socket, advance: (ms: number) => (now += ms) };
}

/** A pending query recording what it was settled with; accepts only answers starting with `accept` after the ID. */
function pending(accept = "ok") {
  const settled: (string | null)[] = [];
  return {
    settled,
    settle(answer: Buffer | null): boolean {
      if (answer === null) {
        settled.push(null);
        return true;
      }
      const text = answer.subarray(2).toString();
      if (text !== accept) return false;
      settled.push(text);
      return true;
    },
  };
}

function answer(id: number, text: string): Buffer {
  const b = Buffer.alloc(2 + text.length);
  b.writeUInt16BE(id, 0);
  b.write(text, 2);
  return b;
}

describe("UdpForwarder: which address a query leaves from", () => {
  test("the client's own, unless preservation is off, the resolver is this node, or the client asks itself", () => {
    const { f } = setup();
    expect(f.sourceFor("10.0.0.5", "10.0.1.53")).toBe("10.0.0.5");
    expect(f.sourceFor("fd00::5", "fd00:1::53")).toBe("fd00::5");
    expect(f.sourceFor("10.0.0.5", "10.200.255.1")).toBe("");
    expect(f.sourceFor("10.0.0.5", "127.0.0.1")).toBe("");
    expect(f.sourceFor("10.0.0.5", "10.0.0.5")).toBe("");
    // Another family (plain mode's fixed resolver) cannot keep the client's address.
    expect(f.sourceFor("10.0.0.5", "fd00:1::53")).toBe("");
    expect(setup({ preserve: false }).f.sourceFor("10.0.0.5", "10.0.1.53")).toBe("");
  });

  test("each client's queries go out on its own socket to that resolver, and only that socket's answers settle them", () => {
    const { f, opened, socket } = setup();
    const a = pending("for-a");
    const b = pending("for-b");
    expect(f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "qa"), a)).toBeNull();
    expect(f.send("10.0.0.6", "10.0.1.53", 53, (id) => answer(id, "qb"), b)).toBeNull();
    const sa = socket("10.0.0.5", "10.0.1.53");
    const sb = socket("10.0.0.6", "10.0.1.53");
    expect(sa.sent).toHaveLength(1);
    expect(sb.sent).toHaveLength(1);
    expect(opened).toHaveLength(2);
    const idA = sa.sent[0]!.readUInt16BE(0);
    const idB = sb.sent[0]!.readUInt16BE(0);
    // a's ID arriving on b's socket is not a's answer; nor is one from another address or port.
    sb.deliver(answer(idA, "for-a"), { ip: "10.0.1.53", port: 53 });
    sa.deliver(answer(idA, "for-a"), { ip: "10.0.1.54", port: 53 });
    sa.deliver(answer(idA, "for-a"), { ip: "10.0.1.53", port: 5353 });
    expect(a.settled).toEqual([]);
    sa.deliver(answer(idA, "for-a"), { ip: "10.0.1.53", port: 53 });
    sb.deliver(answer(idB, "for-b"), { ip: "10.0.1.53", port: 53 });
    expect(a.settled).toEqual(["for-a"]);
    expect(b.settled).toEqual(["for-b"]);
    expect(f.inFlight).toBe(0);
    // A second answer under the same ID is nobody's.
    sa.deliver(answer(idA, "for-a"), { ip: "10.0.1.53", port: 53 });
    expect(a.settled).toEqual(["for-a"]);
  });

  test("one socket per (client, resolver): a client's queries in flight share it, another resolver gets its own", () => {
    const { f, opened, socket } = setup();
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q1"), pending());
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q2"), pending());
    f.send("10.0.0.5", "10.0.1.54", 53, (id) => answer(id, "q3"), pending());
    f.send("10.0.0.5", "10.0.1.54", 5353, (id) => answer(id, "q4"), pending());
    expect(socket("10.0.0.5", "10.0.1.53").sent).toHaveLength(2);
    expect(socket("10.0.0.5", "10.0.1.54").sent).toHaveLength(1);
    expect(socket("10.0.0.5", "10.0.1.54", 5353).sent).toHaveLength(1);
    expect(opened).toHaveLength(3);
    expect(f.clientSockets).toBe(3);
  });

  test("an answer the exchange does not accept (another question) leaves the query waiting", () => {
    const { f, socket } = setup();
    const q = pending("right");
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), q);
    const s = socket("10.0.0.5", "10.0.1.53");
    const id = s.sent[0]!.readUInt16BE(0);
    s.deliver(answer(id, "wrong"), { ip: "10.0.1.53", port: 53 });
    expect(f.inFlight).toBe(1);
    s.deliver(answer(id, "right"), { ip: "10.0.1.53", port: 53 });
    expect(q.settled).toEqual(["right"]);
  });

  test("unanswered queries time out (null), and their client socket is closed once idle", () => {
    const { f, opened, advance } = setup();
    const q = pending();
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), q);
    advance(999);
    f.tick();
    expect(q.settled).toEqual([]);
    advance(1);
    f.tick();
    expect(q.settled).toEqual([null]);
    expect(f.clientSockets).toBe(1);
    advance(5000);
    f.tick();
    expect(f.clientSockets).toBe(0);
    expect(opened[0]!.closed).toBe(true);
  });

  test("no socket from the client's address: not sent (L7P_ERR_UPSTREAM_SOURCE), never sent from elsewhere", () => {
    const { f, opened } = setup({ failOpen: ["10.0.0.9"] });
    const q = pending();
    const failure = f.send("10.0.0.9", "10.0.1.53", 53, (id) => answer(id, "q"), q);
    expect(failure).toMatchObject({ code: "L7P_ERR_UPSTREAM_SOURCE" });
    expect(failure!.message).toContain("cannot bind 10.0.0.9");
    expect(f.inFlight).toBe(0);
    expect(opened).toHaveLength(0);
  });

  test("the bound on sockets: a new client past it, with every socket busy, is refused", () => {
    const { f } = setup({ maxSockets: 1 });
    expect(f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), pending())).toBeNull();
    expect(f.send("10.0.0.6", "10.0.1.53", 53, (id) => answer(id, "q"), pending())).toMatchObject({ code: "L7P_ERR_UPSTREAM_SOURCE" });
    // The busy client keeps its socket for more queries.
    expect(f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), pending())).toBeNull();
  });

  test("a send that fails is reported (L7P_ERR_UPSTREAM_CONNECT) and leaves nothing pending", () => {
    const { f, advance } = setup({ failSendTo: ["10.0.1.99"] });
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), pending());
    const failure = f.send("10.0.0.5", "10.0.1.99", 53, (id) => answer(id, "q"), pending());
    expect(failure).toMatchObject({ code: "L7P_ERR_UPSTREAM_CONNECT" });
    expect(failure!.message).toContain("ENETUNREACH");
    expect(f.inFlight).toBe(1);
    expect(f.clientSockets).toBe(2);
    // The failed send is not counted busy: its socket is idle from then on, the other from its query's timeout.
    advance(1000);
    f.tick();
    expect(f.clientSockets).toBe(2);
    advance(4000);
    f.tick();
    expect(f.clientSockets).toBe(1);
    advance(1000);
    f.tick();
    expect(f.clientSockets).toBe(0);
  });

  test("one query waiting for its timeout does not keep the thousands answered after it (bounded queue), and still times out", () => {
    const { f, socket, advance } = setup();
    const stuck = pending();
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), stuck);
    const s = socket("10.0.0.5", "10.0.1.53");
    for (let i = 0; i < 5000; i++) {
      f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), pending());
      s.deliver(answer(s.sent.at(-1)!.readUInt16BE(0), "ok"), { ip: "10.0.1.53", port: 53 });
    }
    expect(f.inFlight).toBe(1);
    expect(f.queued).toBeLessThanOrEqual(2 + 1024 + 1);
    advance(1000);
    f.tick();
    expect(stuck.settled).toEqual([null]);
    expect(f.inFlight).toBe(0);
  });

  test("close settles what is pending with null and closes every socket", () => {
    const { f, opened } = setup();
    const q = pending();
    f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), q);
    f.close();
    expect(q.settled).toEqual([null]);
    expect(opened[0]!.closed).toBe(true);
    expect(f.send("10.0.0.5", "10.0.1.53", 53, (id) => answer(id, "q"), pending())).toMatchObject({ code: null });
  });
});

describe("UdpForwarder: from the node's address", () => {
  test("a resolver on this node is asked from the node's own socket, whose answers settle the query", async () => {
    const server = dgram.createSocket("udp4");
    server.bind(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const seen: string[] = [];
    server.on("message", (msg, rinfo) => {
      seen.push(rinfo.address);
      server.send(answer(msg.readUInt16BE(0), "ok"), rinfo.port, rinfo.address);
    });
    try {
      const { f, opened } = setup();
      const settled = new Promise<string | null>((resolve) => {
        const failure = f.send("10.0.0.5", "127.0.0.1", port, (id) => answer(id, "q"), {
          settle: (a) => {
            resolve(a === null ? null : a.subarray(2).toString());
            return true;
          },
        });
        expect(failure).toBeNull();
      });
      expect(await settled).toBe("ok");
      expect(seen).toEqual(["127.0.0.1"]);
      expect(opened).toHaveLength(0);
    } finally {
      server.close();
    }
  });
});
