// A test stand-in for kube-apiserver. No kube-apiserver (nor etcd) can run on the machines
// these tests run on, so this real node:http server speaks the part of the Kubernetes REST
// protocol that l7proxy's Kubernetes source uses, following the API conventions
// (https://kubernetes.io/docs/reference/using-api/api-concepts/):
//
// - collections at /api/v1/... and /apis/<group>/<version>/..., cluster-wide and per
//   namespace, answered as JSON lists carrying metadata.resourceVersion;
// - `?watch=1` / `?watch=true` streams of newline-delimited JSON events
//   {type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, object}, starting after the requested
//   resourceVersion, with BOOKMARK events only when allowWatchBookmarks=true, and
//   timeoutSeconds honoured;
// - `410 Gone` for a resourceVersion older than the last compaction, either as a watch ERROR
//   event (what kube-apiserver sends) or as an HTTP 410 response;
// - `fieldSelector=metadata.name=<x>` (and metadata.namespace), the only selector used here;
// - POST of core/v1 Events, recorded for assertions;
// - bearer-token authentication.
//
// Tests change state through the methods below, and can drop every open watch connection
// or compact history to force the client through its relist path.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generateName?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

interface ResourceType {
  /** URL prefix: "/api/v1" or "/apis/<group>/<version>". */
  prefix: string;
  plural: string;
  kind: string;
  apiVersion: string;
  namespaced: boolean;
  /** kube-apiserver omits kind/apiVersion on items of built-in lists, not on CRD lists. */
  builtIn: boolean;
}

export const TEST_RESOURCES = {
  ciliumnetworkpolicies: { prefix: "/apis/cilium.io/v2", plural: "ciliumnetworkpolicies", kind: "CiliumNetworkPolicy", apiVersion: "cilium.io/v2", namespaced: true, builtIn: false },
  ciliumclusterwidenetworkpolicies: { prefix: "/apis/cilium.io/v2", plural: "ciliumclusterwidenetworkpolicies", kind: "CiliumClusterwideNetworkPolicy", apiVersion: "cilium.io/v2", namespaced: false, builtIn: false },
  networkpolicies: { prefix: "/apis/networking.k8s.io/v1", plural: "networkpolicies", kind: "NetworkPolicy", apiVersion: "networking.k8s.io/v1", namespaced: true, builtIn: true },
  pods: { prefix: "/api/v1", plural: "pods", kind: "Pod", apiVersion: "v1", namespaced: true, builtIn: true },
  namespaces: { prefix: "/api/v1", plural: "namespaces", kind: "Namespace", apiVersion: "v1", namespaced: false, builtIn: true },
  secrets: { prefix: "/api/v1", plural: "secrets", kind: "Secret", apiVersion: "v1", namespaced: true, builtIn: true },
  events: { prefix: "/api/v1", plural: "events", kind: "Event", apiVersion: "v1", namespaced: true, builtIn: true },
} as const satisfies Record<string, ResourceType>;

export type TestResource = keyof typeof TEST_RESOURCES;

type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

interface HistoryEntry {
  rv: number;
  resource: TestResource;
  type: WatchEventType;
  object: KubeObject;
}

interface Watcher {
  resource: TestResource;
  namespace: string | undefined;
  nameFilter: string | undefined;
  bookmarks: boolean;
  /** A frozen watch stays open but receives nothing more, like a stalled connection. */
  frozen: boolean;
  res: http.ServerResponse;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

export interface KubeTestApiServerOptions {
  /** How a too-old resourceVersion is refused: a watch ERROR event (default, like kube-apiserver) or HTTP 410. */
  goneAs?: "watch-event" | "http";
  /** Address to listen on (default 127.0.0.1); e2e tests use one a network namespace can reach. */
  host?: string;
}

const clone = <T>(v: T): T => structuredClone(v);

export class KubeTestApiServer {
  readonly token = `test-token-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  goneAs: "watch-event" | "http";

  private readonly server: http.Server;
  private readonly store = new Map<TestResource, Map<string, KubeObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private rv = 100;
  /** Watches from a resourceVersion below this are answered 410 Gone. */
  private compactedBelow = 0;
  private baseUrl = "";
  private readonly failingLists = new Map<TestResource, number>();
  private readonly uninstalled = new Set<TestResource>();

  private constructor(opts: KubeTestApiServerOptions) {
    this.goneAs = opts.goneAs ?? "watch-event";
    for (const r of Object.keys(TEST_RESOURCES) as TestResource[]) this.store.set(r, new Map());
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(opts: KubeTestApiServerOptions = {}): Promise<KubeTestApiServer> {
    const s = new KubeTestApiServer(opts);
    const host = opts.host ?? "127.0.0.1";
    await new Promise<void>((resolve) => s.server.listen(0, host, resolve));
    const addr = s.server.address() as AddressInfo;
    s.baseUrl = `http://${host}:${addr.port}`;
    return s;
  }

  get url(): string {
    return this.baseUrl;
  }

  /** A kubeconfig for this server: plain HTTP (the client requires skipTLSVerify for it) and a bearer token. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: this.baseUrl, skipTLSVerify: true }],
      users: [{ name: "test", token: this.token }],
      contexts: [{ name: "test", cluster: "test", user: "test" }],
      currentContext: "test",
    });
    return kc;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- state changes made by tests ----

  /** Creates or replaces an object; watchers see ADDED or MODIFIED. Returns the stored copy. */
  apply(resource: TestResource, obj: KubeObject): KubeObject {
    const type = TEST_RESOURCES[resource];
    const stored = clone(obj);
    if (type.namespaced) stored.metadata.namespace ??= "default";
    else delete stored.metadata.namespace;
    const key = objectKey(stored);
    const existing = this.store.get(resource)!.get(key);
    stored.metadata.uid = existing?.metadata.uid ?? stored.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp = existing?.metadata.creationTimestamp ?? new Date().toISOString();
    stored.apiVersion = type.apiVersion;
    stored.kind = type.kind;
    this.record(resource, existing === undefined ? "ADDED" : "MODIFIED", stored);
    this.store.get(resource)!.set(key, stored);
    return clone(stored);
  }

  /** Deletes an object; watchers see DELETED. Returns false if it did not exist. */
  delete(resource: TestResource, name: string, namespace?: string): boolean {
    const key = TEST_RESOURCES[resource].namespaced ? `${namespace ?? "default"}/${name}` : name;
    const existing = this.store.get(resource)!.get(key);
    if (existing === undefined) return false;
    this.store.get(resource)!.delete(key);
    const gone = clone(existing);
    this.record(resource, "DELETED", gone);
    return true;
  }

  get(resource: TestResource, name: string, namespace?: string): KubeObject | undefined {
    const key = TEST_RESOURCES[resource].namespaced ? `${namespace ?? "default"}/${name}` : name;
    const o = this.store.get(resource)!.get(key);
    return o === undefined ? undefined : clone(o);
  }

  /** Events POSTed by the client under test. */
  events(): KubeObject[] {
    return [...this.store.get("events")!.values()].map(clone);
  }

  /** Sends a BOOKMARK carrying the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): number {
    let sent = 0;
    for (const w of this.watchers) {
      if (!w.bookmarks || w.frozen) continue;
      const t = TEST_RESOURCES[w.resource];
      writeEvent(w.res, { type: "BOOKMARK", object: { kind: t.kind, apiVersion: t.apiVersion, metadata: { resourceVersion: String(this.rv) } } });
      sent++;
    }
    return sent;
  }

  /** Cuts every open watch connection (or those of one resource) without a clean end, like a lost TCP connection. */
  dropWatches(resource?: TestResource): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (resource !== undefined && w.resource !== resource) continue;
      this.watchers.delete(w);
      w.res.socket?.destroy();
      n++;
    }
    return n;
  }

  /**
   * Forgets history, like etcd compaction: any watch resuming from an older resourceVersion
   * gets 410 Gone and must relist. With `expireOpenWatches`, open watches are told so too
   * (kube-apiserver does this when a watch falls too far behind).
   */
  compact(opts: { expireOpenWatches?: boolean } = {}): void {
    this.compactedBelow = this.rv + 1;
    this.history.length = 0;
    if (!opts.expireOpenWatches) return;
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      writeEvent(w.res, { type: "ERROR", object: goneStatus(this.rv) });
      w.res.end();
    }
  }

  /** Open watches stop receiving events (they stay connected); history keeps them for a resumed watch. */
  freezeWatches(): void {
    for (const w of this.watchers) w.frozen = true;
  }

  /** Lists and watches of a resource are answered with this HTTP status until `failLists(resource, undefined)` (e.g. 403 as RBAC would, 503 as an overloaded server). */
  failLists(resource: TestResource, status: number | undefined): void {
    if (status === undefined) this.failingLists.delete(resource);
    else this.failingLists.set(resource, status);
  }

  /** Makes a resource type unknown (404 on all its paths), like a CRD that is not installed; `true` installs it again. */
  setInstalled(resource: TestResource, installed: boolean): void {
    if (installed) this.uninstalled.delete(resource);
    else this.uninstalled.add(resource);
  }

  /** Requests that listed (not watched) a resource's collection. */
  listRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "GET" && r.query.watch === undefined);
  }

  watchRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "GET" && (r.query.watch === "1" || r.query.watch === "true"));
  }

  openWatchCount(resource?: TestResource): number {
    return [...this.watchers].filter((w) => resource === undefined || w.resource === resource).length;
  }

  // ---- protocol ----

  private record(resource: TestResource, type: WatchEventType, obj: KubeObject): void {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const entry: HistoryEntry = { rv: this.rv, resource, type, object: clone(obj) };
    this.history.push(entry);
    for (const w of this.watchers) {
      if (!w.frozen && matches(w, entry)) writeEvent(w.res, { type, object: stripForWire(entry.object) });
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? "", path: url.pathname, query });
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return sendStatus(res, 401, "Unauthorized", "Unauthorized");
    }
    const route = parsePath(url.pathname);
    if (route === undefined || this.uninstalled.has(route.resource)) return sendStatus(res, 404, "NotFound", `the server could not find the requested resource (${url.pathname})`);
    if (req.method === "POST" && route.name === undefined) {
      return void readBody(req).then(
        (body) => this.create(route.resource, route.namespace, body, res),
        () => sendStatus(res, 400, "BadRequest", "unreadable body"),
      );
    }
    if (req.method !== "GET") return sendStatus(res, 405, "MethodNotAllowed", `${req.method} is not supported here`);
    if (route.name !== undefined) {
      const o = route.namespace === undefined && TEST_RESOURCES[route.resource].namespaced ? undefined : this.get(route.resource, route.name, route.namespace);
      if (o === undefined) return sendStatus(res, 404, "NotFound", `${route.resource} "${route.name}" not found`);
      return sendJson(res, 200, o);
    }
    const selector = parseFieldSelector(query.fieldSelector);
    if (selector === null || query.labelSelector) {
      return sendStatus(res, 400, "BadRequest", "only fieldSelector=metadata.name=<x>,metadata.namespace=<y> is supported by the test server");
    }
    const namespace = route.namespace ?? selector.namespace;
    const failWith = this.failingLists.get(route.resource);
    if (failWith !== undefined) return sendStatus(res, failWith, failWith === 403 ? "Forbidden" : "ServiceUnavailable", "failing on purpose (test)");
    if (query.watch === "1" || query.watch === "true") return this.watch(route.resource, namespace, selector.name, query, res);
    this.list(route.resource, namespace, selector.name, res);
  }

  private list(resource: TestResource, namespace: string | undefined, name: string | undefined, res: http.ServerResponse): void {
    const t = TEST_RESOURCES[resource];
    const items = [...this.store.get(resource)!.values()]
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && (name === undefined || o.metadata.name === name))
      .map((o) => {
        const item = stripForWire(o);
        if (t.builtIn) {
          delete item.kind;
          delete item.apiVersion;
        }
        return item;
      });
    sendJson(res, 200, { kind: `${t.kind}List`, apiVersion: t.apiVersion, metadata: { resourceVersion: String(this.rv) }, items });
  }

  private watch(resource: TestResource, namespace: string | undefined, name: string | undefined, query: Record<string, string>, res: http.ServerResponse): void {
    const w: Watcher = { resource, namespace, nameFilter: name, bookmarks: query.allowWatchBookmarks === "true", frozen: false, res };
    const from = query.resourceVersion;
    if (from !== undefined && from !== "" && from !== "0") {
      const rv = Number(from);
      if (!Number.isInteger(rv)) return sendStatus(res, 400, "BadRequest", `invalid resourceVersion ${from}`);
      if (rv < this.compactedBelow - 1) {
        if (this.goneAs === "http") return sendJson(res, 410, goneStatus(this.rv));
        res.writeHead(200, { "content-type": "application/json" });
        writeEvent(res, { type: "ERROR", object: goneStatus(this.rv) });
        return void res.end();
      }
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      for (const e of this.history) if (e.rv > rv && matches(w, e)) writeEvent(res, { type: e.type, object: stripForWire(e.object) });
    } else {
      // No resourceVersion: "start at most recent", beginning with synthetic ADDED events for the current state.
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      for (const o of this.store.get(resource)!.values()) {
        const e: HistoryEntry = { rv: Number(o.metadata.resourceVersion), resource, type: "ADDED", object: o };
        if (matches(w, e)) writeEvent(res, { type: "ADDED", object: stripForWire(o) });
      }
    }
    res.flushHeaders();
    this.watchers.add(w);
    const timeout = Number(query.timeoutSeconds);
    const timer = Number.isFinite(timeout) && timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on("close", () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }

  private create(resource: TestResource, namespace: string | undefined, body: unknown, res: http.ServerResponse): void {
    const t = TEST_RESOURCES[resource];
    if (!isKubeObjectLike(body)) return sendStatus(res, 400, "BadRequest", "body is not a Kubernetes object");
    const meta = body.metadata;
    if (t.namespaced && namespace === undefined) return sendStatus(res, 405, "MethodNotAllowed", "create needs a namespace in the path");
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      return sendStatus(res, 400, "BadRequest", `the namespace of the object (${meta.namespace}) does not match the namespace on the request (${namespace})`);
    }
    if (!meta.name) {
      if (!meta.generateName) return sendStatus(res, 422, "Invalid", "metadata.name or metadata.generateName is required");
      meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    if (this.get(resource, meta.name, namespace) !== undefined) {
      return sendStatus(res, 409, "AlreadyExists", `${resource} "${meta.name}" already exists`);
    }
    const stored = this.apply(resource, { ...body, metadata: { ...meta, name: meta.name, namespace } });
    sendJson(res, 201, stored);
  }
}

function objectKey(o: KubeObject): string {
  return o.metadata.namespace === undefined ? o.metadata.name : `${o.metadata.namespace}/${o.metadata.name}`;
}

function matches(w: Watcher, e: HistoryEntry): boolean {
  return (
    e.resource === w.resource &&
    (w.namespace === undefined || e.object.metadata.namespace === w.namespace) &&
    (w.nameFilter === undefined || e.object.metadata.name === w.nameFilter)
  );
}

function stripForWire(o: KubeObject): KubeObject {
  return clone(o);
}

function writeEvent(res: http.ServerResponse, event: { type: string; object: unknown }): void {
  if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
}

function goneStatus(current: number): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `too old resource version (current ${current})`,
    reason: "Expired",
    code: 410,
  };
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
}

interface Route {
  resource: TestResource;
  namespace: string | undefined;
  name: string | undefined;
}

/** Maps /api/v1[/namespaces/{ns}]/{plural}[/{name}] and /apis/{g}/{v}[/namespaces/{ns}]/{plural}[/{name}]. */
function parsePath(pathname: string): Route | undefined {
  for (const [resource, t] of Object.entries(TEST_RESOURCES) as [TestResource, ResourceType][]) {
    if (!pathname.startsWith(`${t.prefix}/`)) continue;
    const rest = pathname.slice(t.prefix.length + 1).split("/").map(decodeURIComponent);
    if (rest[0] === t.plural && rest.length <= 2) {
      // /api/v1/namespaces/{name} is a namespace object, not a namespaced collection.
      return { resource, namespace: undefined, name: rest[1] };
    }
    if (t.namespaced && rest[0] === "namespaces" && rest[2] === t.plural && rest.length <= 4 && rest[1]) {
      return { resource, namespace: rest[1], name: rest[3] };
    }
  }
  return undefined;
}

/** null when the selector uses anything but metadata.name / metadata.namespace equality. */
function parseFieldSelector(sel: string | undefined): { name?: string; namespace?: string } | null {
  const out: { name?: string; namespace?: string } = {};
  if (sel === undefined || sel === "") return out;
  for (const term of sel.split(",")) {
    const m = /^metadata\.(name|namespace)==?(.+)$/.exec(term);
    if (m === null) return null;
    out[m[1] as "name" | "namespace"] = m[2]!;
  }
  return out;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

function isKubeObjectLike(v: unknown): v is KubeObject {
  return typeof v === "object" && v !== null && typeof (v as { metadata?: unknown }).metadata === "object" && (v as { metadata?: unknown }).metadata !== null;
}
