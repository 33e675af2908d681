// Starts test/support/netns-transparent-listener.mjs (the native addon's transparent listener
// plus a byte-pipe to the original destination) inside a topology's node namespace, and
// exposes what it reports.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { JsonLines } from "./json-lines.js";
import { type TestTopology, stopChild } from "./netns.js";

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "netns-transparent-listener.mjs");

export interface AcceptedEvent {
  event: "accepted";
  remoteAddress: string;
  remotePort: number;
  /** The connection's original destination. */
  localAddress: string;
  localPort: number;
}

export interface UpstreamEvent {
  event: "upstream";
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  mark: number;
  transparent: boolean;
}

export interface ListenerStub {
  output: JsonLines;
  accepted(): AcceptedEvent[];
  upstreams(): UpstreamEvent[];
  waitForUpstream(count?: number): Promise<UpstreamEvent>;
  stop(): Promise<void>;
}

export interface ListenerOptions {
  port: number;
  /** Listen address; "::" for IPv6 (and IPv4, dual stack). Default 0.0.0.0. */
  host?: string;
  /** SO_MARK on upstream sockets. */
  upstreamMark?: number;
  /** Bind upstream sockets to the client's address (transparently). */
  preserveSource?: boolean;
}

export async function startTransparentListener(topo: TestTopology, options: ListenerOptions): Promise<ListenerStub> {
  const child = topo.spawn(topo.nodeNs, [process.execPath, SCRIPT], {
    LISTEN_PORT: String(options.port),
    ...(options.host !== undefined ? { LISTEN_HOST: options.host } : {}),
    ...(options.upstreamMark !== undefined ? { UPSTREAM_MARK: String(options.upstreamMark) } : {}),
    ...(options.preserveSource ? { PRESERVE_SOURCE: "1" } : {}),
  });
  const output = new JsonLines(child);
  await output.waitFor((line) => (line as { event?: string }).event === "listening");
  const upstreams = (): UpstreamEvent[] => output.lines.filter((l): l is UpstreamEvent => (l as UpstreamEvent).event === "upstream");
  return {
    output,
    accepted: () => output.lines.filter((l): l is AcceptedEvent => (l as AcceptedEvent).event === "accepted"),
    upstreams,
    waitForUpstream: async (count = 1) => {
      await output.waitFor(() => upstreams().length >= count);
      return upstreams()[count - 1]!;
    },
    stop: () => stopChild(child),
  };
}
