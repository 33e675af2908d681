// A light, paced Kafka producer for latency at a fixed request rate (run in a pod's
// namespace): the raw protocol over a few TCP connections, so that what is measured is the
// path to the broker, not a client library (kafkajs' own p99 at 3,000 requests/s was 54-75 ms
// direct). ApiVersions v0 and Metadata v1 first, then Produce (v7 or the broker's newest
// below it, acks=1), one record batch of one 1 KiB record per request, sent on a fixed
// schedule that never waits for answers.
//
// The schedule: request i is due at start + i/rate (absolute, so it never drifts); a timer
// wakes for the next due request and sends every request due by then, each its own write,
// round-robin over the connections. Send lag (actual send - due) is reported beside the
// latency, so a generator that fell behind is seen, not hidden. Latency: from a request's
// write to its response's arrival, process.hrtime; requests of the first --warmup seconds
// are sent but not counted. The record batch is built once (CRC-32C included) and reused:
// only the correlation id changes per request.
//
//   node paced-producer.mjs HOST:PORT TOPIC RATE SECONDS [CONNECTIONS] [WARMUP_SECONDS]
// Prints one JSON line: {sent, answered, errors, achievedRps, p50Ms, p99Ms, p999Ms, maxMs,
// sendLag: {p50Ms, p99Ms, maxMs}, generatorCpuUsPerRequest}.
import net from "node:net";

const [broker, topic, rateText, secondsText, connText = "1", warmupText = "1"] = process.argv.slice(2);
const [host, portText] = broker.split(":");
const rate = Number(rateText);
const connections = Number(connText);
const warmup = Math.round(rate * Number(warmupText));
const total = warmup + Math.round(rate * Number(secondsText));
const CLIENT_ID = "paced-producer";
const VALUE_BYTES = 1024;

const hr = () => Number(process.hrtime.bigint());

// --- CRC-32C (Castagnoli), for the record batch ---
const CRC_TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c >>> 0;
}
function crc32c(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zigzagVarint(n) {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  const out = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

const str16 = (s) => {
  const b = Buffer.from(s, "utf8");
  const out = Buffer.alloc(2 + b.length);
  out.writeInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
};
const i16 = (v) => { const b = Buffer.alloc(2); b.writeInt16BE(v); return b; };
const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
const i64 = (v) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(v)); return b; };

/** A request frame: size, header v1 (key, version, correlation id, client id), body. */
function frame(apiKey, version, corr, body) {
  const payload = Buffer.concat([i16(apiKey), i16(version), i32(corr), str16(CLIENT_ID), body]);
  return Buffer.concat([i32(payload.length), payload]);
}

/** RecordBatch v2 (magic 2) holding one record with a 1 KiB value, no key, no headers. */
function recordBatch() {
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const recordBody = Buffer.concat([Buffer.from([0]), zigzagVarint(0), zigzagVarint(0), zigzagVarint(-1), zigzagVarint(value.length), value, zigzagVarint(0)]);
  const record = Buffer.concat([zigzagVarint(recordBody.length), recordBody]);
  const now = Date.now();
  // From attributes to the end: what the CRC covers.
  const tail = Buffer.concat([i16(0), i32(0), i64(now), i64(now), i64(-1), i16(-1), i32(-1), i32(1), record]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32c(tail));
  const afterLength = Buffer.concat([i32(-1), Buffer.from([2]), crc, tail]);
  return Buffer.concat([i64(0), i32(afterLength.length), afterLength]);
}

/** Produce v3-8 (one layout): no transactional id, acks=1, one topic, partition 0. */
function produceBody() {
  const batch = recordBatch();
  return Buffer.concat([i16(-1), i16(1), i32(30_000), i32(1), str16(topic), i32(1), i32(0), i32(batch.length), batch]);
}

/** Whole response frames from a connection, as they complete. */
function framer(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let pos = 0;
    while (buf.length - pos >= 4) {
      const size = buf.readInt32BE(pos);
      if (buf.length - pos < 4 + size) break;
      onFrame(buf.subarray(pos + 4, pos + 4 + size));
      pos += 4 + size;
    }
    buf = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos);
  };
}

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: Number(portText) });
    s.setNoDelay(true);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** One request on `s` during setup, its response frame (after the size prefix). */
function ask(s, f) {
  return new Promise((resolve, reject) => {
    const onData = framer((body) => {
      s.off("data", onData);
      resolve(body);
    });
    s.on("data", onData);
    s.once("error", reject);
    s.write(f);
  });
}

const setup = await connect();
// ApiVersions v0: the broker's Produce range.
const av = await ask(setup, frame(18, 0, 1, Buffer.alloc(0)));
if (av.readInt16BE(4) !== 0) throw new Error(`ApiVersions error ${av.readInt16BE(4)}`);
let produceMax = -1;
for (let i = 0, n = av.readInt32BE(6), at = 10; i < n; i++, at += 6) if (av.readInt16BE(at) === 0) produceMax = av.readInt16BE(at + 4);
const version = Math.min(produceMax, 7);
if (version < 3) throw new Error(`the broker speaks Produce up to v${produceMax}; record batches need v3`);
// Metadata v1 for the topic: it must exist with partition 0 (one broker: it leads it).
const md = await ask(setup, frame(3, 1, 2, Buffer.concat([i32(1), str16(topic)])));
{
  let at = 4;
  const brokers = md.readInt32BE(at);
  at += 4;
  for (let i = 0; i < brokers; i++) {
    at += 4;
    at += 2 + md.readInt16BE(at);
    at += 4;
    const rack = md.readInt16BE(at);
    at += 2 + Math.max(rack, 0);
  }
  at += 4 + 4; // controller id; topics count (1)
  const err = md.readInt16BE(at);
  if (err !== 0) throw new Error(`Metadata: topic ${topic} error ${err}`);
}
setup.destroy();

const body = produceBody();
const template = frame(0, version, 0, body);
const socks = [];
for (let c = 0; c < connections; c++) socks.push(await connect());

const sentAt = new Float64Array(total);
const latency = new Float64Array(total).fill(NaN);
const lag = new Float64Array(total);
let answered = 0;
let errors = 0;
let finish = null;

for (const s of socks) {
  s.on("data", framer((res) => {
    const corr = res.readInt32BE(0);
    const t = hr();
    if (corr < 0 || corr >= total || !Number.isNaN(latency[corr])) return;
    latency[corr] = t - sentAt[corr];
    // Produce v3-8 response: topics (1), name, partitions (1), index, error code.
    const nameLen = res.readInt16BE(8);
    if (res.readInt16BE(10 + nameLen + 8) !== 0) errors++;
    if (++answered === total) finish?.();
  }));
  s.on("error", (err) => {
    process.stderr.write(`paced-producer: ${err.message}\n`);
    finish?.();
  });
}

const cpu0 = process.cpuUsage();
const periodNs = 1e9 / rate;
const start = hr() + 2e6;
let next = 0;
function tick() {
  const now = hr();
  while (next < total && start + next * periodNs <= now) {
    const f = Buffer.from(template);
    f.writeInt32BE(next, 8);
    const t = hr();
    sentAt[next] = t;
    lag[next] = t - (start + next * periodNs);
    socks[next % connections].write(f);
    next++;
  }
  if (next < total) setTimeout(tick, Math.max(0, (start + next * periodNs - hr()) / 1e6));
}
setTimeout(tick, 2);
await new Promise((resolve) => {
  finish = resolve;
  // Everything sent and 10 s more: what is still unanswered then is lost.
  setTimeout(resolve, (total / rate) * 1000 + 10_000).unref();
});
// Over the span the schedule covered: what the sends achieved, whatever the answers took.
const sendSpanS = (sentAt[total - 1] - start + periodNs) / 1e9;
const cpu = process.cpuUsage(cpu0);
for (const s of socks) s.destroy();

const counted = latency.subarray(warmup).filter((x) => !Number.isNaN(x)).sort();
const lags = lag.subarray(warmup).sort();
const q = (xs, p) => (xs.length === 0 ? null : xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))] / 1e6);
process.stdout.write(
  JSON.stringify({
    produceVersion: version,
    connections,
    sent: total - warmup,
    answered: counted.length,
    errors,
    achievedRps: next === total ? total / sendSpanS : null,
    p50Ms: q(counted, 0.5),
    p99Ms: q(counted, 0.99),
    p999Ms: q(counted, 0.999),
    maxMs: q(counted, 1),
    sendLag: { p50Ms: q(lags, 0.5), p99Ms: q(lags, 0.99), maxMs: q(lags, 1) },
    generatorCpuUsPerRequest: (cpu.user + cpu.system) / total,
  }) + "\n",
);
process.exit(0);
