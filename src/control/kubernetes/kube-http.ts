// Plain JSON requests to the Kubernetes API with the credentials of a KubeConfig.
//
// Why not the generated typed clients (CoreV1Api, ...): they turn JSON into model classes and
// rename fields (NetworkPolicy `from` becomes `_from`, timestamps become Dates), while the
// watch stream delivers plain JSON. The policy loader must see the same manifest shape from
// both, so lists are fetched raw here too.

import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** A non-2xx answer from the API server; `statusCode` is what the informer checks for 410 Gone. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

const REQUEST_TIMEOUT_MS = 30_000;
/** A list of every pod in a large cluster is tens of MB; refuse anything absurd rather than exhaust memory. */
const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;

export async function requestJson(kc: KubeConfig, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error("the kubeconfig has no current cluster");
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(cluster.server.replace(/\/+$/, "") + path);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: http.OutgoingHttpHeaders = { ...((opts.headers ?? {}) as http.OutgoingHttpHeaders), accept: "application/json" };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = payload.length;
  }
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
  const transport = url.protocol === "http:" ? http : https;

  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers, agent: opts.agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new Error(`response to ${method} ${path} exceeds ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          if (parsed === undefined) reject(new Error(`${method} ${path}: the API server answered ${status} without a JSON body`));
          else resolve(parsed);
          return;
        }
        const st = (parsed ?? {}) as { reason?: unknown; message?: unknown };
        reject(
          new KubeApiError(
            status,
            typeof st.reason === "string" ? st.reason : "",
            `${method} ${path}: ${status} ${typeof st.message === "string" ? st.message : text.slice(0, 200)}`,
          ),
        );
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}
