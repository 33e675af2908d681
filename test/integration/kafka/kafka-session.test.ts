// The Kafka session on real loopback sockets, between a raw client and a scripted broker:
// order of answers, what reaches the broker, and what closes the connection.
import { once } from "node:events";
import net, { type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ErrorCode } from "../../../src/errors/codes.js";
import { encodeRequest, encodeResponse } from "../../../src/datapath/kafka/frames.js";
import { KafkaSession, type KafkaExchangeReport } from "../../../src/datapath/kafka/kafka-session.js";
import type { KafkaStruct } from "../../../src/datapath/kafka/message-reader.js";
import { decodeRequest } from "../../../src/datapath/kafka/request-decoder.js";
import { decodeResponse } from "../../../src/datapath/kafka/response-decoder.js";
import { TopicIdTable, type TopicIdRuntime } from "../../../src/datapath/kafka/topic-ids.js";
import type { KafkaRequestFacts, L7Verdict } from "../../../src/policy/decision.js";

const SIDE = { direction: "ingress", enforced: true, allowed: true, decidedBy: { kind: "not-enforced" } } as const;
function verdict(allowed: boolean): L7Verdict {
  return { allowed, egress: SIDE, ingress: { ...SIDE, allowed }, headerOps: [], logs: [] } as unknown as L7Verdict;
}

/** A broker that answers each request with `answer(request)` after `delayMs`, and records what it got. */
async function scriptedBroker(answer: (apiKey: number, version: number, corr: number, body: KafkaStruct) => KafkaStruct | null, delayMs = 0, corrShift = 0) {
  const received: { apiKey: number; version: number; corr: number; body: KafkaStruct; raw: Buffer }[] = [];
  const sockets: Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    let buf = Buffer.alloc(0);
    s.on("data", (c) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const r = decodeRequest(buf, 0, 1 << 20);
        if (r.kind !== "request") break;
        const { apiKey, apiVersion, correlationId, body } = r.request;
        received.push({ apiKey, version: apiVersion, corr: correlationId, body, raw: Buffer.from(r.request.frame) });
        buf = buf.subarray(r.end);
        const res = answer(apiKey, apiVersion, correlationId, body);
        if (res !== null) setTimeout(() => s.write(encodeResponse(apiKey, apiVersion, correlationId + corrShift, res)), delayMs);
      }
    });
    s.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return { port, received, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

interface Harness {
  client: Socket;
  reports: KafkaExchangeReport[];
  parseErrors: ErrorCode[];
  connErrors: string[];
  responses(n: number): Promise<Buffer[]>;
  closed: Promise<void>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

async function harness(brokerPort: number, decide: (f: KafkaRequestFacts) => boolean, ids: TopicIdTable | TopicIdRuntime = new TopicIdTable(100, 10)): Promise<Harness> {
  const topicIds: TopicIdRuntime = ids instanceof TopicIdTable ? { table: ids, share: () => null } : ids;
  const reports: KafkaExchangeReport[] = [];
  const parseErrors: ErrorCode[] = [];
  const connErrors: string[] = [];
  const proxy = net.createServer((c) => {
    c.on("error", () => {});
    new KafkaSession(
      {
        client: c,
        connectUpstream: () => net.connect({ host: "127.0.0.1", port: brokerPort }),
        decide: (f) => verdict(decide(f)),
        report: (ex) => reports.push(ex),
        parseError: (code) => parseErrors.push(code),
        connectionError: (code, d) => connErrors.push(`${code}: ${d}`),
        draining: () => false,
        topicIdScope: () => "identity cluster",
      },
      { maxFrameBytes: 1 << 16, maxPipelined: 4, idleTimeoutMs: 0, topicIds },
    );
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const client = net.connect({ host: "127.0.0.1", port: (proxy.address() as net.AddressInfo).port });
  await once(client, "connect");
  cleanups.push(() => { client.destroy(); proxy.close(); });
  let buf = Buffer.alloc(0);
  const frames: Buffer[] = [];
  const waiters: (() => void)[] = [];
  client.on("data", (c) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      frames.push(buf.subarray(0, 4 + buf.readInt32BE(0)));
      buf = buf.subarray(4 + buf.readInt32BE(0));
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => client.on("close", () => { for (const w of waiters.splice(0)) w(); resolve(); }));
  client.on("error", () => {});
  return {
    client, reports, parseErrors, connErrors, closed,
    async responses(n) {
      while (frames.length < n) {
        if (client.destroyed) throw new Error(`closed after ${frames.length} responses`);
        await new Promise<void>((r) => waiters.push(r));
      }
      return frames.slice(0, n);
    },
  };
}

const produce = (corr: number, topic: string, acks = -1) =>
  encodeRequest(0, 7, corr, "c", { Acks: acks, TimeoutMs: 1000, TopicData: [{ Name: topic, PartitionData: [{ Index: 0, Records: Buffer.from("records") }] }] });
const produceOk = (): KafkaStruct => ({ Responses: [{ Name: "ok", PartitionResponses: [{ Index: 0, ErrorCode: 0, BaseOffset: 5n }] }] });
const allowTopic = (t: string) => (f: KafkaRequestFacts) => (f.topics ?? []).every((x) => x === t);

describe("Kafka session", () => {
  it("forwards allowed frames byte for byte and answers denied ones in request order", async () => {
    const broker = await scriptedBroker(() => produceOk(), 50);
    cleanups.push(broker.close);
    const h = await harness(broker.port, allowTopic("ok"));
    const a = produce(1, "ok");
    h.client.write(Buffer.concat([a, produce(2, "secret"), produce(3, "ok")]));
    const [r1, r2, r3] = await h.responses(3);
    // The denial (2) waited for the broker's slower answer to 1.
    expect([r1, r2, r3].map((r) => r!.readInt32BE(4))).toEqual([1, 2, 3]);
    const denied = decodeResponse(0, 7, r2!);
    expect(denied.ok && (denied.body.Responses as KafkaStruct[])[0]!.PartitionResponses).toMatchObject([{ ErrorCode: 29 }]);
    expect(broker.received.map((r) => r.corr)).toEqual([1, 3]);
    expect(broker.received[0]!.raw.equals(a)).toBe(true);
    expect(h.reports.map((r) => [r.correlationId, r.errorCode, r.verdict.allowed])).toEqual([[1, 0, true], [2, 29, false], [3, 0, true]]);
  });

  it("closes on a request it cannot decode, forwarding nothing of it", async () => {
    const broker = await scriptedBroker(() => produceOk());
    cleanups.push(broker.close);
    const h = await harness(broker.port, () => true);
    const bad = Buffer.concat([produce(1, "ok"), Buffer.from([0])]);
    bad.writeInt32BE(bad.length - 4, 0);
    h.client.write(bad);
    await h.closed;
    expect(h.parseErrors).toEqual(["L7P_ERR_KAFKA_REQUEST"]);
    expect(broker.received).toEqual([]);
  });

  it("closes after the answers before a denied acks=0 Produce, and forwards nothing after it", async () => {
    const broker = await scriptedBroker((k, _v, _c, b) => (k === 0 && b.Acks === 0 ? null : produceOk()), 30);
    cleanups.push(broker.close);
    const h = await harness(broker.port, allowTopic("ok"));
    h.client.write(Buffer.concat([produce(1, "ok"), produce(2, "ok", 0), produce(3, "secret", 0), produce(4, "ok")]));
    await h.closed;
    const got = await h.responses(1);
    expect(got[0]!.readInt32BE(4)).toBe(1);
    expect(broker.received.map((r) => r.corr)).toEqual([1, 2]);
    expect(h.reports.map((r) => [r.correlationId, r.errorCode])).toEqual([[1, 0], [2, 0], [3, 29]]);
  });

  it("learns topic IDs from Metadata v12 responses; a Fetch v13 by an unknown ID is denied with UNKNOWN_TOPIC_ID until then", async () => {
    const id = "42".repeat(16);
    const broker = await scriptedBroker((k, _v, _c, b): KafkaStruct => {
      if (k === 3) return { Brokers: [], Topics: (b.Topics as KafkaStruct[]).map((t) => ({ ErrorCode: 0, Name: t.Name ?? null, TopicId: id, Partitions: [] })) };
      return { ErrorCode: 0, SessionId: 0, Responses: [] };
    });
    cleanups.push(broker.close);
    const ids = new TopicIdTable(100, 10);
    const h = await harness(broker.port, allowTopic("empire-announce"), ids);
    const fetch = (corr: number, topicId: string) => encodeRequest(1, 13, corr, "c", { Topics: [{ TopicId: topicId, Partitions: [{ Partition: 0 }] }] });
    h.client.write(fetch(1, id));
    const [first] = await h.responses(1);
    const r1 = decodeResponse(1, 13, first!);
    expect(r1.ok && r1.body).toMatchObject({ ErrorCode: 0, Responses: [{ TopicId: id, Partitions: [{ PartitionIndex: 0, ErrorCode: 100 }] }] });
    h.client.write(encodeRequest(3, 12, 2, "c", { Topics: [{ TopicId: "0".repeat(32), Name: "empire-announce" }] }));
    await h.responses(2);
    h.client.write(fetch(3, id));
    const all = await h.responses(3);
    const r3 = decodeResponse(1, 13, all[2]!);
    expect(r3.ok && r3.body.ErrorCode).toBe(0);
    expect(broker.received.map((r) => r.corr)).toEqual([2, 3]);
    expect(h.reports.map((r) => r.topics)).toEqual([[`<unknown-topic-id:${id}>`], ["empire-announce"], ["empire-announce"]]);
    expect(h.reports.map((r) => [r.verdict.allowed, r.errorCode])).toEqual([[false, 100], [true, 0], [true, 0]]);
  });

  it("a Metadata answer held for the other processes keeps the answers after it behind it, in order", async () => {
    const id = "42".repeat(16);
    const broker = await scriptedBroker((k, _v, _c, b): KafkaStruct => {
      if (k === 3) return { Brokers: [], Topics: (b.Topics as KafkaStruct[]).map((t) => ({ ErrorCode: 0, Name: t.Name ?? null, TopicId: id, Partitions: [] })) };
      return produceOk();
    });
    cleanups.push(broker.close);
    let release!: () => void;
    let shares = 0;
    const ids: TopicIdRuntime = { table: new TopicIdTable(100, 10), share: () => (shares++, new Promise<void>((r) => (release = r))) };
    const h = await harness(broker.port, allowTopic("ok"), ids);
    const metadata = encodeRequest(3, 12, 1, "c", { Topics: [{ TopicId: "0".repeat(32), Name: "ok" }] });
    h.client.write(Buffer.concat([metadata, produce(2, "ok"), produce(3, "secret")]));
    while (broker.received.length < 2 || shares === 0) await new Promise((r) => setTimeout(r, 5));
    // The broker answered both; the denial of 3 is ready too: nothing reaches the client yet.
    const early = await Promise.race([h.responses(1).then(() => "answered"), new Promise((r) => setTimeout(() => r("held"), 50))]);
    expect(early).toBe("held");
    release();
    const all = await h.responses(3);
    expect(all.map((r) => r.readInt32BE(4))).toEqual([1, 2, 3]);
    expect(ids.table.resolve("identity cluster", id)).toEqual({ name: "ok", known: true });
  });

  it("a broker that closes while its Metadata answer is held: the client still gets the answer", async () => {
    const id = "42".repeat(16);
    const broker = await scriptedBroker((_k, _v, _c, b): KafkaStruct => ({
      Brokers: [],
      Topics: (b.Topics as KafkaStruct[]).map((t) => ({ ErrorCode: 0, Name: t.Name ?? null, TopicId: id, Partitions: [] })),
    }));
    cleanups.push(broker.close);
    let shared = false;
    // The other processes never answer: only the broker's close releases the answer.
    const ids: TopicIdRuntime = { table: new TopicIdTable(100, 10), share: () => ((shared = true), new Promise<void>(() => {})) };
    const h = await harness(broker.port, () => true, ids);
    h.client.write(encodeRequest(3, 12, 1, "c", { Topics: [{ TopicId: "0".repeat(32), Name: "ok" }] }));
    while (!shared) await new Promise((r) => setTimeout(r, 5));
    broker.close();
    const [res] = await h.responses(1);
    expect(res!.readInt32BE(4)).toBe(1);
    await h.closed;
  });

  it("closes when the broker answers with another correlation id", async () => {
    const broker = await scriptedBroker(() => produceOk(), 0, 100);
    cleanups.push(broker.close);
    const h = await harness(broker.port, () => true);
    h.client.write(produce(7, "ok"));
    await h.closed;
    expect(h.connErrors).toEqual(["L7P_ERR_KAFKA_RESPONSE: Kafka: response correlation id 107, expected 7"]);
    await expect(h.responses(1)).rejects.toThrow(/closed after 0/);
  });
  it("negotiates a too-new ApiVersions down (UNSUPPORTED_VERSION at v0 with the versions it reads), forwarding nothing of it", async () => {
    const broker = await scriptedBroker(() => produceOk());
    cleanups.push(broker.close);
    const h = await harness(broker.port, () => true);
    // ApiVersions v9: header v2 (client id, tags) and a body no spec here describes.
    const head = Buffer.from("0012" + "0009" + "0000000b" + "0004" + "6a617661" + "00" + "deadbeef", "hex");
    const frame = Buffer.concat([Buffer.alloc(4), head]);
    frame.writeInt32BE(head.length, 0);
    h.client.write(Buffer.concat([frame, produce(12, "ok")]));
    const [av, pr] = await h.responses(2);
    const res = decodeResponse(18, 0, av!);
    expect(res.ok && res.correlationId).toBe(11);
    expect(res.ok && res.body).toEqual({ ErrorCode: 35, ApiKeys: [{ ApiKey: 18, MinVersion: 0, MaxVersion: 4 }] });
    expect(pr!.readInt32BE(4)).toBe(12);
    expect(broker.received.map((r) => r.corr)).toEqual([12]);
    expect(h.reports[0]).toMatchObject({ apiKey: 18, apiVersion: 9, clientId: "java", errorCode: 35 });
  });
});
