// The endpoints file: who is who when running without a cluster. Two formats:
// 1. l7proxy's own YAML: `namespaces: [{name, labels}]`, `endpoints: [{name, namespace,
//    labels, ips, workload?, serviceAccount?, nodeName?}]` (workload defaults to the name,
//    namespace to "default");
// 2. Kubernetes objects: a v1 List of Pods and Namespaces as `kubectl get pods,namespaces -A
//    -o yaml` prints it (or the objects as separate documents).
// Every error names file:line:col and the field, and fails the whole load (L7P_ERR_ENDPOINTS):
// a half-read inventory would silently move pods to `world`.

import { readFile } from "node:fs/promises";
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document } from "yaml";
import { L7ProxyError } from "../../errors/codes.js";
import { canonicalIp } from "../net/ip.js";
import { inventoryFromKubernetesObjects } from "./kubernetes-objects.js";
import type { Endpoint, EndpointInventory, NamespaceInfo } from "./types.js";

const ENDPOINT_FIELDS = new Set(["name", "namespace", "labels", "ips", "workload", "serviceAccount", "nodeName"]);
const NAMESPACE_FIELDS = new Set(["name", "labels"]);
const TOP_FIELDS = new Set(["namespaces", "endpoints"]);

class Reader {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** `atKey`: point at the key of the last path element (for unknown fields) rather than its value. */
  fail(path: (string | number)[], message: string, atKey = false): never {
    let node = this.doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    if (atKey) {
      const parent = this.doc.getIn(path.slice(0, -1), true);
      const pair = isMap(parent) ? parent.items.find((it) => (it.key as { value?: unknown } | null)?.value === path[path.length - 1]) : undefined;
      node = (pair?.key as { range?: [number, number, number] } | undefined) ?? node;
    }
    const offset = node?.range?.[0] ?? (this.doc.contents as { range?: [number] } | null)?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
    throw new L7ProxyError("L7P_ERR_ENDPOINTS", `${this.file}:${pos.line}:${pos.col}: ${field}: ${message}`);
  }

  string(v: unknown, path: (string | number)[], required: boolean): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path.slice(0, -1), `missing required field "${String(path[path.length - 1])}"`);
      return undefined;
    }
    if (typeof v !== "string" || v === "") this.fail(path, "must be a non-empty string");
    return v;
  }

  labels(v: unknown, path: (string | number)[]): Record<string, string> {
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) this.fail(path, "must be a map of label keys to string values");
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (typeof val === "number" || typeof val === "boolean") this.fail([...path, k], "label values must be strings (quote them)");
      if (typeof val !== "string") this.fail([...path, k], "label values must be strings");
      out[k] = val;
    }
    return out;
  }

  unknownFields(v: Record<string, unknown>, allowed: Set<string>, path: (string | number)[]): void {
    for (const k of Object.keys(v)) if (!allowed.has(k)) this.fail([...path, k], `unknown field "${k}"`, true);
  }

  list(v: unknown, path: (string | number)[]): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, "must be a list");
    return v;
  }

  record(v: unknown, path: (string | number)[]): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(path, "must be a map");
    return v as Record<string, unknown>;
  }
}

function readOwnFormat(r: Reader, data: Record<string, unknown>, into: EndpointInventory): void {
  r.unknownFields(data, TOP_FIELDS, []);
  r.list(data.namespaces, ["namespaces"]).forEach((raw, i) => {
    const path = ["namespaces", i];
    const n = r.record(raw, path);
    r.unknownFields(n, NAMESPACE_FIELDS, path);
    const ns: NamespaceInfo = { name: r.string(n.name, [...path, "name"], true) as string, labels: r.labels(n.labels, [...path, "labels"]) };
    into.namespaces.push(ns);
  });
  r.list(data.endpoints, ["endpoints"]).forEach((raw, i) => {
    const path = ["endpoints", i];
    const e = r.record(raw, path);
    r.unknownFields(e, ENDPOINT_FIELDS, path);
    const name = r.string(e.name, [...path, "name"], true) as string;
    const ips = r.list(e.ips, [...path, "ips"]).map((ip, j) => {
      if (typeof ip !== "string" || canonicalIp(ip) === undefined) r.fail([...path, "ips", j], `not an IP address: ${String(ip)}`);
      return ip;
    });
    if (ips.length === 0) r.fail(path, `endpoint "${name}" needs at least one IP in "ips"`);
    const ep: Endpoint = {
      name,
      namespace: r.string(e.namespace, [...path, "namespace"], false) ?? "default",
      labels: r.labels(e.labels, [...path, "labels"]),
      ips,
      workload: r.string(e.workload, [...path, "workload"], false) ?? name,
    };
    const sa = r.string(e.serviceAccount, [...path, "serviceAccount"], false);
    if (sa !== undefined) ep.serviceAccount = sa;
    const node = r.string(e.nodeName, [...path, "nodeName"], false);
    if (node !== undefined) ep.nodeName = node;
    into.endpoints.push(ep);
  });
}

function readKubernetes(r: Reader, data: Record<string, unknown>, into: EndpointInventory): void {
  const items = data.kind === "List" ? r.list(data.items, ["items"]) : [data];
  const pods: unknown[] = [];
  const namespaces: unknown[] = [];
  items.forEach((item, i) => {
    const o = r.record(item, data.kind === "List" ? ["items", i] : []);
    if (o.kind === "Pod") pods.push(o);
    else if (o.kind === "Namespace") namespaces.push(o);
  });
  const inv = inventoryFromKubernetesObjects(pods, namespaces);
  into.namespaces.push(...inv.namespaces);
  into.endpoints.push(...inv.endpoints);
}

export function parseEndpointsText(text: string, file: string): EndpointInventory {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const into: EndpointInventory = { namespaces: [], endpoints: [] };
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lines.linePos(err.pos[0]);
      throw new L7ProxyError("L7P_ERR_ENDPOINTS", `${file}:${pos.line}:${pos.col}: YAML syntax error: ${err.message.split("\n")[0]}`);
    }
    if (doc.contents === null) continue;
    const r = new Reader(file, doc, lines);
    if (!isMap(doc.contents)) r.fail([], isSeq(doc.contents) ? "expected a map with `endpoints`, not a list" : "expected a map with `endpoints`");
    const data = doc.toJS() as Record<string, unknown>;
    if (typeof data.kind === "string") readKubernetes(r, data, into);
    else readOwnFormat(r, data, into);
  }
  const seen = new Set<string>();
  for (const e of into.endpoints) {
    const key = `${e.namespace}/${e.name}`;
    if (seen.has(key)) throw new L7ProxyError("L7P_ERR_ENDPOINTS", `${file}: endpoint ${key} is listed twice`);
    seen.add(key);
  }
  return into;
}

export async function loadEndpointsFile(path: string): Promise<EndpointInventory> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new L7ProxyError("L7P_ERR_ENDPOINTS", `${path}: cannot read endpoints file: ${(err as Error).message}`);
  }
  return parseEndpointsText(text, path);
}
