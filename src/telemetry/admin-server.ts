// The admin API (default 127.0.0.1:9901), node:http only:
//   /metrics  Prometheus text format
//   /healthz  200 while the process is serving
//   /readyz   200 once a policy is loaded and the proxy listens, else 503
//   /flows    recent flow records as JSON lines; ?follow=1 streams new ones; filters
//             verdict, namespace, pod, workload, protocol, policy; ?last=N
//   /policy   the snapshot's revision, the loaded policies, the last load error
// It binds to loopback by default: flow records name pods and URLs, so exposing it is a
// deliberate choice (--admin 0.0.0.0:9901).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { FlowFilterError, parseFlowFilter, type FlowFilter } from "./flow-filter.js";
import { matchesFlow } from "./flow-filter.js";
import type { FlowRing } from "./flow-ring.js";

export interface PolicyInfo {
  revision: number;
  policies: { ref: string; kind: string; source: string }[];
  lastError: string | null;
}

export interface AdminHealth {
  ready(): boolean;
  policyInfo(): PolicyInfo;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  registry: Registry;
  flows: FlowRing;
  health: AdminHealth;
  /** A line /readyz adds to its answer (e.g. that policy audit mode is on). */
  readyNote?: string;
  /** Most concurrent ?follow=1 streams (default 32); more get 503. */
  maxFollowers?: number;
  /**
   * Binds the server instead of a plain listen(host, port): the proxy passes one that shares the
   * port with SO_REUSEPORT, so an old and a new process can both serve it during a restart.
   */
  listen?: (server: Server) => Promise<void>;
}

export interface AdminServer {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** A follower that stops reading gets no more records once this much is queued for it. */
const FOLLOW_BUFFER_LIMIT = 1 << 20;

const FLOWS_PARAMS = new Set(["verdict", "namespace", "pod", "workload", "protocol", "policy", "last", "follow"]);

class BadRequest extends Error {}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json", `${JSON.stringify(value, null, 2)}\n`);
}

interface FlowsQuery {
  filter: FlowFilter;
  last: number | undefined;
  follow: boolean;
}

function parseFlowsQuery(params: URLSearchParams): FlowsQuery {
  for (const key of params.keys()) {
    if (!FLOWS_PARAMS.has(key)) throw new BadRequest(`unknown parameter '${key}' (known: ${[...FLOWS_PARAMS].join(", ")})`);
  }
  let filter: FlowFilter;
  try {
    filter = parseFlowFilter(params);
  } catch (err) {
    if (err instanceof FlowFilterError) throw new BadRequest(err.message);
    throw err;
  }
  let last: number | undefined;
  const lastText = params.get("last");
  if (lastText !== null) {
    if (!/^\d{1,9}$/.test(lastText)) throw new BadRequest(`last: expected a non-negative integer, got '${lastText}'`);
    last = Number(lastText);
  }
  const followText = params.get("follow");
  if (followText !== null && !["1", "true", "0", "false", ""].includes(followText)) {
    throw new BadRequest(`follow: expected 1 or 0, got '${followText}'`);
  }
  const follow = followText === "1" || followText === "true" || followText === "";
  return { filter, last, follow };
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const { registry, flows, health } = opts;
  const maxFollowers = opts.maxFollowers ?? 32;
  const followers = new Set<ServerResponse>();

  function serveFlows(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): void {
    const q = parseFlowsQuery(params);
    if (!q.follow) {
      const lines = flows.recent(q.filter, q.last).map((r) => `${JSON.stringify(r)}\n`);
      send(res, 200, "application/x-ndjson", lines.join(""));
      return;
    }
    if (followers.size >= maxFollowers) {
      send(res, 503, "text/plain; charset=utf-8", `too many followers (${maxFollowers}); try again later\n`);
      return;
    }
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    // Send the head now so a client waiting for the first record knows it is connected.
    res.flushHeaders();
    if (q.last !== undefined && q.last > 0) {
      for (const r of flows.recent(q.filter, q.last)) res.write(`${JSON.stringify(r)}\n`);
    }
    followers.add(res);
    const unsubscribe = flows.subscribe((r) => {
      if (!matchesFlow(r, q.filter)) return;
      // A follower that stops reading must not make the proxy buffer without bound.
      if (res.writableLength > FOLLOW_BUFFER_LIMIT) return;
      res.write(`${JSON.stringify(r)}\n`);
    });
    const done = (): void => {
      unsubscribe();
      followers.delete(res);
    };
    req.once("close", done);
    res.once("close", done);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://admin");
    switch (url.pathname) {
      case "/metrics": {
        const text = await registry.metrics();
        send(res, 200, registry.contentType, text);
        return;
      }
      case "/healthz":
        send(res, 200, "text/plain; charset=utf-8", "ok\n");
        return;
      case "/readyz":
        if (health.ready()) send(res, 200, "text/plain; charset=utf-8", opts.readyNote === undefined ? "ready\n" : `ready\n${opts.readyNote}\n`);
        else send(res, 503, "text/plain; charset=utf-8", "not ready\n");
        return;
      case "/flows":
        serveFlows(req, res, url.searchParams);
        return;
      case "/policy": {
        // Whatever else the control plane reports (e.g. loadedAt) is passed through.
        sendJson(res, 200, health.policyInfo());
        return;
      }
      default:
        send(res, 404, "text/plain; charset=utf-8", "not found; try /metrics /healthz /readyz /flows /policy\n");
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BadRequest) {
        send(res, 400, "text/plain; charset=utf-8", `bad request: ${err.message}\n`);
        return;
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(res, 500, "text/plain; charset=utf-8", `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });

  if (opts.listen !== undefined) await opts.listen(server);
  else {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of followers) res.end();
        followers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
