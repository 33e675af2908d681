// How evenly SO_REUSEPORT spreads new connections over W processes, each holding a transparent
// listener made by l7proxy's own addon (as --workers does), on 127.0.0.1 (needs root; no rules).
//   npm run build && node bench/reuseport/spread.mjs [workers] [connections]
import { fork } from "node:child_process"; import net from "node:net";
const port = 17000 + (process.pid % 1000);
const W = Number(process.argv[2] ?? 2), N = Number(process.argv[3] ?? 1000), trials = 5;
const ws = []; for (let i = 0; i < W; i++) { const w = fork(new URL("./spread-worker.mjs", import.meta.url).pathname, [String(port)]); await new Promise((r) => w.once("message", r)); ws.push(w); }
const res = [];
for (let t = 0; t < trials; t++) {
  const before = await Promise.all(ws.map((w) => new Promise((r) => { w.once("message", r); w.send("?"); })));
  const socks = []; for (let i = 0; i < N; i++) socks.push(await new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => r(s)); }));
  await new Promise((r) => setTimeout(r, 300));
  const after = await Promise.all(ws.map((w) => new Promise((r) => { w.once("message", r); w.send("?"); })));
  res.push(after.map((a, i) => a - before[i])); for (const s of socks) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
}
console.log(JSON.stringify({ workers: W, connections: N, perTrial: res }));
for (const w of ws) w.kill(); process.exit(0);
