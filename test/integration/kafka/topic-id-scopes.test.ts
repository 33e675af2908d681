// Topic IDs are trusted only for the broker cluster that taught them, on real sockets: an
// outpost may consume empire-announce from any empire pod on 9092 (so its connections to a
// rogue pod are Kafka connections too, whose Metadata answers the proxy reads). The rogue pod
// answers Metadata mapping the ID of deathstar-plans to empire-announce; a Fetch v13 by that
// ID to the real brokers must still be decided as an unknown ID (answered UNKNOWN_TOPIC_ID,
// 100, as a broker answers an ID it does not know), and by the real name once a broker of the
// cluster (any of its pods: they share one identity) answered.
import { once } from "node:events";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import net, { type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { defaultRunConfig } from "../../../src/config/run-config.js";
import { SnapshotHolder } from "../../../src/control/snapshot-holder.js";
import { startLocalTopicIds } from "../../../src/control/topic-id-persistence.js";
import { startKafka } from "../../../src/datapath/kafka/kafka-handler.js";
import { encodeResponse } from "../../../src/datapath/kafka/frames.js";
import type { KafkaStruct } from "../../../src/datapath/kafka/message-reader.js";
import { decodeRequest } from "../../../src/datapath/kafka/request-decoder.js";
import { decodeResponse } from "../../../src/datapath/kafka/response-decoder.js";
import { localTopicIds, type TopicIdRuntime } from "../../../src/datapath/kafka/topic-ids.js";
import { NO_OBSERVER, type KafkaDetail, type L7Exchange } from "../../../src/datapath/observer.js";
import { bindFlow } from "../../../src/datapath/policy-binding.js";
import { compileYaml, flow } from "../../support/policy-fixtures.js";

const PLANS_ID = "d1".repeat(16);
const ANNOUNCE_ID = "a7".repeat(16);

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: outposts, namespace: empire}
spec:
  endpointSelector: {matchLabels: {app: empire-outpost}}
  egress:
    - toEndpoints: [{}]
      toPorts:
        - ports: [{port: "9092", protocol: TCP}]
          rules:
            kafka:
              - {role: consume, topic: empire-announce}
`;
const ENDPOINTS = `namespaces: [{name: empire, labels: {}}]
endpoints:
  - {name: kafka-0, namespace: empire, labels: {app: kafka, statefulset.kubernetes.io/pod-name: kafka-0}, ips: [10.9.0.10], workload: kafka}
  - {name: kafka-1, namespace: empire, labels: {app: kafka, statefulset.kubernetes.io/pod-name: kafka-1}, ips: [10.9.0.11], workload: kafka}
  - {name: rogue, namespace: empire, labels: {app: rogue}, ips: [10.9.0.66]}
  - {name: outpost, namespace: empire, labels: {app: empire-outpost}, ips: [10.9.0.20]}
`;

/** A broker that answers Metadata v12 with `topics` (name -> ID) and every Fetch v13 with success. */
async function broker(topics: Record<string, string>) {
  const fetched: string[][] = [];
  const sockets: Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    let buf = Buffer.alloc(0);
    s.on("data", (c) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const r = decodeRequest(buf, 0, 1 << 20);
        if (r.kind !== "request") break;
        buf = buf.subarray(r.end);
        const { apiKey, apiVersion, correlationId } = r.request;
        let body: KafkaStruct;
        if (apiKey === 3) {
          body = { Brokers: [], Topics: Object.entries(topics).map(([Name, TopicId]) => ({ ErrorCode: 0, Name, TopicId, IsInternal: false, Partitions: [] })) };
        } else {
          fetched.push([...r.request.topicIds]);
          body = { ErrorCode: 0, SessionId: 0, Responses: [] };
        }
        s.write(encodeResponse(apiKey, apiVersion, correlationId, body));
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as net.AddressInfo).port, fetched, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

/**
 * The proxy for connections from the outpost to `dstIp`:9092, relayed to `brokerPort`, with
 * the Kafka handler, the compiled policy and the process's topic-ID table.
 */
async function proxyTo(dstIp: string, brokerPort: number, ids: TopicIdRuntime, records: L7Exchange<KafkaDetail>[]) {
  const { snapshot } = compileYaml(POLICY, ENDPOINTS);
  const holder = new SnapshotHolder();
  holder.swap(snapshot, []);
  const config = defaultRunConfig();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    client.on("error", () => {});
    const query = flow("10.9.0.20", dstIp, 9092);
    const f = snapshot.decideFlow(query);
    expect(f.l7).toBe("kafka");
    startKafka({
      client,
      query,
      binding: bindFlow({ holder, snapshot, query, flow: f, protocol: "kafka", audit: false }),
      connectUpstream: () => net.connect({ host: "127.0.0.1", port: brokerPort }),
      observer: { ...NO_OBSERVER, l7Request: (ex) => records.push(ex as L7Exchange<KafkaDetail>) },
      config,
      draining: () => false,
      fqdn: null,
      kafkaTopicIds: ids,
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/** One request on a fresh connection; the one response frame. */
async function ask(port: number, frame: Buffer): Promise<Buffer> {
  const c = net.connect({ host: "127.0.0.1", port });
  cleanups.push(() => c.destroy());
  await once(c, "connect");
  c.write(frame);
  let buf = Buffer.alloc(0);
  for await (const chunk of c) {
    buf = Buffer.concat([buf, chunk as Buffer]);
    if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) break;
  }
  c.destroy();
  return buf.subarray(0, 4 + buf.readInt32BE(0));
}

/** Golden bytes, built by hand from the specs: a size prefix and the fields, in spec order. */
function frame(hex: string): Buffer {
  const body = Buffer.from(hex.replace(/\s+/g, ""), "hex");
  const out = Buffer.alloc(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}
const int32 = (n: number) => (n >>> 0).toString(16).padStart(8, "0");

/** Metadata v12 (flexible) for empire-announce by name: header v2, compact strings, tags. */
const metadata = (corr: number) =>
  frame(`0003 000c ${int32(corr)} 0004 6a617661 00` + // key 3, v12, client "java", no header tags
    " 02 00000000000000000000000000000000 10 656d706972652d616e6e6f756e6365 00" + // Topics: 1; null TopicId; Name "empire-announce"; tags
    " 00 00 00"); // AllowAutoTopicCreation, IncludeTopicAuthorizedOperations false; body tags

/** Fetch v13 for partition 0 of each of `ids`. */
const fetchByIds = (corr: number, ids: string[]) =>
  frame(`0001 000d ${int32(corr)} 0004 6a617661 00` +
    " ffffffff 000001f4 00000001 00100000 00 00000000 ffffffff" +
    ` ${(ids.length + 1).toString(16).padStart(2, "0")}` +
    ids.map((id) => ` ${id} 02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00 00`).join("") +
    " 01 01 00");

/** Fetch v13 (the first by topic ID): one partition of the topic `id`. */
const fetchById = (corr: number, id: string) =>
  frame(`0001 000d ${int32(corr)} 0004 6a617661 00` + // key 1, v13, client "java", no header tags
    " ffffffff 000001f4 00000001 00100000 00 00000000 ffffffff" + // ReplicaId -1, MaxWaitMs 500, MinBytes 1, MaxBytes 1 MiB, IsolationLevel, SessionId 0, SessionEpoch -1
    ` 02 ${id}` + // Topics: 1; TopicId
    " 02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00" + // Partitions: 1; Partition 0, CurrentLeaderEpoch -1, FetchOffset 0, LastFetchedEpoch -1, LogStartOffset -1, PartitionMaxBytes; tags
    " 00 01 01 00"); // topic tags; ForgottenTopicsData: empty; RackId ""; body tags

describe("Kafka topic IDs are scoped by the destination's identity", () => {
  it("the golden frames are what they say", () => {
    const f = decodeRequest(fetchById(9, PLANS_ID), 0, 1 << 20);
    expect(f.kind === "request" && [f.request.apiKey, f.request.apiVersion, f.request.correlationId, f.request.topicIds, f.request.topicNames]).toEqual([1, 13, 9, [PLANS_ID], []]);
    const m = decodeRequest(metadata(8), 0, 1 << 20);
    expect(m.kind === "request" && [m.request.apiKey, m.request.apiVersion, m.request.topicNames, m.request.topicIds]).toEqual([3, 12, ["empire-announce"], []]);
  });

  it("an ID only a rogue destination taught is unknown at the real brokers (29), until a broker of the cluster teaches it", async () => {
    const ids = localTopicIds();
    const records: L7Exchange<KafkaDetail>[] = [];
    // The rogue pod lends deathstar-plans' ID the name empire-announce.
    const rogue = await broker({ "empire-announce": PLANS_ID });
    const b0 = await broker({ "empire-announce": ANNOUNCE_ID, "deathstar-plans": PLANS_ID });
    const b1 = await broker({ "empire-announce": ANNOUNCE_ID, "deathstar-plans": PLANS_ID });
    cleanups.push(rogue.close, b0.close, b1.close);
    const toRogue = await proxyTo("10.9.0.66", rogue.port, ids, records);
    const toB0 = await proxyTo("10.9.0.10", b0.port, ids, records);
    const toB1 = await proxyTo("10.9.0.11", b1.port, ids, records);

    const taught = decodeResponse(3, 12, await ask(toRogue, metadata(1)));
    expect(taught.ok && taught.body.Topics).toMatchObject([{ Name: "empire-announce", TopicId: PLANS_ID }]);
    // The rogue's own answer is believed for the rogue (it is the rogue's to answer for).
    const atRogue = decodeResponse(1, 13, await ask(toRogue, fetchById(2, PLANS_ID)));
    expect(atRogue.ok && atRogue.body.ErrorCode).toBe(0);

    // The real broker: the ID is unknown there, so refused as a broker refuses an ID it does
    // not know (UNKNOWN_TOPIC_ID on the partition: the client asks Metadata again).
    for (const port of [toB0, toB1]) {
      const denied = decodeResponse(1, 13, await ask(port, fetchById(3, PLANS_ID)));
      expect(denied.ok && denied.body).toMatchObject({ ErrorCode: 0, SessionId: 0, Responses: [{ TopicId: PLANS_ID, Partitions: [{ PartitionIndex: 0, ErrorCode: 100, HighWatermark: -1n }] }] });
    }
    expect(b0.fetched.concat(b1.fetched)).toEqual([]);
    expect(records.slice(-2).map((r) => [r.verdict.allowed, r.detail.topics, r.detail.errorCode])).toEqual([
      [false, [`<unknown-topic-id:${PLANS_ID}>`], 100],
      [false, [`<unknown-topic-id:${PLANS_ID}>`], 100],
    ]);
    expect(records.at(-1)!.verdict.logs.at(-1)).toContain(`unknown topic ID ${PLANS_ID}: answered UNKNOWN_TOPIC_ID (100)`);

    // broker-0 answers Metadata: the cluster's IDs are known for broker-1 too (one identity).
    await ask(toB0, metadata(4));
    const allowed = decodeResponse(1, 13, await ask(toB1, fetchById(5, ANNOUNCE_ID)));
    expect(allowed.ok && allowed.body.ErrorCode).toBe(0);
    expect(b1.fetched).toEqual([[ANNOUNCE_ID]]);
    // And the plans' ID is the plans at last: denied by the policy, by its name.
    const plans = decodeResponse(1, 13, await ask(toB1, fetchById(6, PLANS_ID)));
    expect(plans.ok && plans.body.ErrorCode).toBe(29);
    expect(records.at(-1)!.detail.topics).toEqual(["deathstar-plans"]);
    expect(b1.fetched).toEqual([[ANNOUNCE_ID]]);
  });

  it("a Fetch naming a known topic and an unknown ID: 100 when the known one is allowed, 29 when policy denies it", async () => {
    const ids = localTopicIds();
    const records: L7Exchange<KafkaDetail>[] = [];
    const b0 = await broker({ "empire-announce": ANNOUNCE_ID, "deathstar-plans": PLANS_ID });
    cleanups.push(b0.close);
    const toB0 = await proxyTo("10.9.0.10", b0.port, ids, records);
    await ask(toB0, metadata(1)); // teaches the broker's topics (the policy allows this Metadata)
    const other = "0f".repeat(16);
    const mixed = decodeResponse(1, 13, await ask(toB0, fetchByIds(2, [ANNOUNCE_ID, other])));
    expect(mixed.ok && mixed.body).toMatchObject({
      ErrorCode: 0,
      Responses: [
        { TopicId: ANNOUNCE_ID, Partitions: [{ ErrorCode: 100 }] },
        { TopicId: other, Partitions: [{ ErrorCode: 100 }] },
      ],
    });
    expect(records.at(-1)!.detail).toMatchObject({ topics: ["empire-announce", `<unknown-topic-id:${other}>`], errorCode: 100 });
    // The same answer named the plans (this broker lists every topic): known, and denied by
    // policy, so no name of the other ID could allow the request.
    const denied = decodeResponse(1, 13, await ask(toB0, fetchByIds(3, [PLANS_ID, other])));
    expect(denied.ok && denied.body).toMatchObject({ ErrorCode: 29, Responses: [] });
    expect(records.at(-1)!.detail).toMatchObject({ topics: ["deathstar-plans", `<unknown-topic-id:${other}>`], errorCode: 29 });
    expect(b0.fetched).toEqual([]);
  });

  it("a single process restarted with --state-dir knows the IDs the last one learned; the answer that taught them waited for the write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "topic-id-restart-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const b0 = await broker({ "empire-announce": ANNOUNCE_ID });
    cleanups.push(b0.close);
    const first = startLocalTopicIds(dir, pino({ level: "silent" }));
    const toFirst = await proxyTo("10.9.0.10", b0.port, first, []);
    expect(decodeResponse(3, 12, await ask(toFirst, metadata(1))).ok).toBe(true);
    // Written before the client had the answer.
    expect(readdirSync(join(dir, "kafka-topic-ids"))).toEqual([`${process.pid}.json`]);
    first.close();

    // The next process (here: this one again, with the same pid, as in a container).
    const records: L7Exchange<KafkaDetail>[] = [];
    const next = startLocalTopicIds(dir, pino({ level: "silent" }));
    cleanups.push(() => next.close());
    const toNext = await proxyTo("10.9.0.10", b0.port, next, records);
    const ok = decodeResponse(1, 13, await ask(toNext, fetchById(2, ANNOUNCE_ID)));
    expect(ok.ok && ok.body.ErrorCode).toBe(0);
    expect(b0.fetched).toEqual([[ANNOUNCE_ID]]);
    expect(records.map((r) => [r.verdict.allowed, r.detail.topics])).toEqual([[true, ["empire-announce"]]]);
  });

  it("a Metadata answer that taught something waits for the other processes before it reaches the client", async () => {
    const b0 = await broker({ "empire-announce": ANNOUNCE_ID });
    cleanups.push(b0.close);
    let releaseShare!: () => void;
    const shared: unknown[] = [];
    const local = localTopicIds();
    const ids: TopicIdRuntime = {
      table: local.table,
      share: (entries) => {
        shared.push(...entries);
        return new Promise<void>((r) => (releaseShare = r));
      },
    };
    const toB0 = await proxyTo("10.9.0.10", b0.port, ids, []);
    let got = false;
    const answer = ask(toB0, metadata(1)).then((b) => {
      got = true;
      return b;
    });
    while (shared.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(shared).toMatchObject([{ id: ANNOUNCE_ID, name: "empire-announce" }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe(false);
    releaseShare();
    const res = decodeResponse(3, 12, await answer);
    expect(res.ok && res.correlationId).toBe(1);
    // Taught again: nothing new, nothing to wait for.
    shared.length = 0;
    expect(decodeResponse(3, 12, await ask(toB0, metadata(2))).ok).toBe(true);
    expect(shared).toEqual([]);
  });
});
