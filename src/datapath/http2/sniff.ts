// Reads the first bytes of a connection until they tell HTTP/2 (the preface) from HTTP/1.x;
// the preface may take several reads. The bytes read are handed on, so the chosen session
// sees the connection from its first byte. A client that sends nothing is left to the
// caller's timeout (the socket's idle timer keeps running).

import type { Socket } from "node:net";
import { matchPreface, type SniffResult } from "./preface.js";

export function sniffHttpVersion(socket: Socket, decided: (kind: Exclude<SniffResult, "more">, head: Buffer) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    head = head.length === 0 ? d : Buffer.concat([head, d]);
    const kind = matchPreface(head);
    if (kind === "more") return;
    socket.off("data", onData);
    socket.pause();
    decided(kind, head);
  };
  socket.on("data", onData);
}
