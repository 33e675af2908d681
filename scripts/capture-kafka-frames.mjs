#!/usr/bin/env node
// Records the Kafka frames real clients exchange with the mock broker, for the decoder's
// golden tests (test/fixtures/kafka/*.jsonl). Runs as root: in a throwaway network namespace,
// the mock broker listens on 127.0.0.1:PORT and an nft rule sends every other connection to
// that port through this recorder (which connects from 127.0.0.2, so it is not redirected).
//   node scripts/capture-kafka-frames.mjs CLIENT OUT.jsonl -- COMMAND...
// runs COMMAND (with $BOOTSTRAP set) inside the namespace and writes one JSON line per frame:
//   {"dir":"req"|"resp","conn":N,"hex":"..."}
import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

const [, , client, out, dashdash, ...command] = process.argv;
if (dashdash !== "--" || command.length === 0) {
  console.error("usage: capture-kafka-frames.mjs CLIENT OUT.jsonl -- COMMAND...");
  process.exit(2);
}
const ns = `kcap${process.pid}`;
const here = fileURLToPath(new URL(".", import.meta.url));
const mockBin = `${here}../build/kafka-mock-broker`; // gcc -o build/kafka-mock-broker tools/kafka-mock-broker.c -lrdkafka

if (!process.env.KCAP_INSIDE) {
  execFileSync("ip", ["netns", "add", ns]);
  try {
    execFileSync("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    execFileSync("ip", ["netns", "exec", ns, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, KCAP_INSIDE: "1" },
    });
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
  process.exit(0);
}

const mock = spawn(mockBin, ["-t", "deathstar-plans", "-t", "empire-announce"], { stdio: ["pipe", "pipe", "inherit"] });
const bootstrap = await new Promise((resolve) => mock.stdout.once("data", (d) => resolve(JSON.parse(String(d)).bootstrap)));
const port = Number(bootstrap.split(":")[1]);
const lines = [];
let conns = 0;
function framer(dir, conn) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      const n = 4 + buf.readInt32BE(0);
      lines.push(JSON.stringify({ client, dir, conn, hex: buf.subarray(0, n).toString("hex") }));
      buf = buf.subarray(n);
    }
  };
}
const recorder = net.createServer((c) => {
  const conn = ++conns;
  const up = net.connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
  c.on("data", framer("req", conn));
  up.on("data", framer("resp", conn));
  c.pipe(up);
  up.pipe(c);
  c.on("error", () => up.destroy());
  up.on("error", () => c.destroy());
});
await new Promise((r) => recorder.listen(0, "127.0.0.1", r));
const rport = recorder.address().port;
execFileSync("nft", ["-f", "-"], {
  input: `table ip kcap {
 chain capture {
  type nat hook output priority -100;
  ip saddr != 127.0.0.2 tcp dport ${port} dnat to 127.0.0.1:${rport}
 }
}
`,
});
const child = spawn(command[0], command.slice(1), { stdio: "inherit", env: { ...process.env, BOOTSTRAP: bootstrap } });
const code = await new Promise((r) => child.on("exit", r));
recorder.close();
mock.stdin.end();
writeFileSync(out, lines.join("\n") + "\n");
console.error(`${client}: ${lines.length} frames over ${conns} connections -> ${out} (client exit ${code})`);
process.exit(0);
