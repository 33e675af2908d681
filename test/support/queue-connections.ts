// Leaves connections waiting in a listener's accept queue: a child process connects `count`
// times to 127.0.0.1:port, writes "c<i>" on connection i, and exits. spawnSync blocks this
// process's event loop meanwhile, so none of them is accepted before it returns, and each
// waits in the queue with its bytes and the child's FIN.

import { spawnSync } from "node:child_process";

const CHILD = `
const net = require("node:net");
const [port, count] = process.argv.slice(1).map(Number);
let open = 0;
for (let i = 0; i < count; i++) {
  const s = net.connect(port, "127.0.0.1", () => s.write("c" + i, () => { if (++open === count) process.exit(0); }));
  s.on("error", (e) => { console.error(String(e)); process.exit(1); });
}
`;

export function queueConnections(port: number, count: number): void {
  const r = spawnSync(process.execPath, ["-e", CHILD, String(port), String(count)], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`queueing connections failed (${r.status}): ${r.stderr}`);
}
