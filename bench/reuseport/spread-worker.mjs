import { listenTransparent } from "../../dist/intercept/transparent-socket.js";
const s = await listenTransparent({ host: "127.0.0.1", port: Number(process.argv[2]), reusePort: true });
let n = 0; s.on("connection", (c) => { n++; c.on("error", () => {}); });
process.send("ready");
process.on("message", () => { process.send(n); });
