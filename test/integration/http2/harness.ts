// Real sockets on 127.0.0.1: the HTTP/2 session behind a plain TCP listener (sniffing the
// preface as the registry does), upstreams (node:http2 core servers, @grpc/grpc-js servers)
// and clients. Policy is a function of the request facts.

import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { runHttp2Session, type Http2Session, type Http2StreamRecord } from "../../../src/datapath/http2/http2-session.js";
import type { Http2RequestFacts } from "../../../src/datapath/http2/request-facts.js";
import type { Http2Settings } from "../../../src/datapath/http2/session-settings.js";
import { sniffHttpVersion } from "../../../src/datapath/http2/sniff.js";
import type { ErrorCode } from "../../../src/errors/codes.js";
import type { HeaderOp, L7Verdict, SideVerdict } from "../../../src/policy/decision.js";
import { http2SettingsFromDefaults } from "../../support/http2-settings.js";

const SIDE: SideVerdict = { direction: "ingress", enforced: true, allowed: true, decidedBy: { kind: "not-enforced" } };

export function verdict(allowed: boolean, headerOps: HeaderOp[] = []): L7Verdict {
  return { allowed, egress: SIDE, ingress: { ...SIDE, allowed }, headerOps, logs: [] };
}

export interface ProxyUnderTest {
  port: number;
  records: Http2StreamRecord[];
  parseErrors: ErrorCode[];
  connectionErrors: { code: ErrorCode; detail: string }[];
  sessions: Http2Session[];
  /** Upstream connections the proxy opened. */
  upstreamConnections(): number;
  draining: boolean;
  close(): Promise<void>;
}

export async function startProxy(
  upstreamPort: number,
  decide: (facts: Http2RequestFacts) => L7Verdict,
  settings: Partial<Http2Settings> = {},
): Promise<ProxyUnderTest> {
  const records: Http2StreamRecord[] = [];
  const parseErrors: ErrorCode[] = [];
  const connectionErrors: { code: ErrorCode; detail: string }[] = [];
  const sessions: Http2Session[] = [];
  const sockets = new Set<Socket>();
  let upstreams = 0;
  const full = { ...http2SettingsFromDefaults(), ...settings };
  const state = { draining: false };
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    client.setNoDelay(true);
    sniffHttpVersion(client, (kind, head) => {
      if (kind !== "h2") {
        client.destroy();
        return;
      }
      sessions.push(
        runHttp2Session(client, head, {
          connectUpstream: () => {
            upstreams++;
            const s = connect({ port: upstreamPort, host: "127.0.0.1", noDelay: true });
            sockets.add(s);
            s.on("close", () => sockets.delete(s));
            return s;
          },
          origin: `http://127.0.0.1:${upstreamPort}`,
          decide,
          onStream: (r) => records.push(r),
          onParseError: (c) => parseErrors.push(c),
          onConnectionError: (code, detail) => connectionErrors.push({ code, detail }),
          draining: () => state.draining,
          settings: full,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const out: ProxyUnderTest = {
    port: (server.address() as AddressInfo).port,
    records,
    parseErrors,
    connectionErrors,
    sessions,
    upstreamConnections: () => upstreams,
    get draining() {
      return state.draining;
    },
    set draining(v: boolean) {
      state.draining = v;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return out;
}

/** Waits until `cond` holds (polling), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
