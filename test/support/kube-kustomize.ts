// Reads the kustomizations under deploy/ the way `kubectl apply -k` would for the features
// they use (resources, components, configMapGenerator with files), without kustomize itself,
// which is not installed here: enough to check that every file is listed and to validate the
// objects each one produces.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";

export interface Kustomization {
  apiVersion: string;
  kind: "Kustomization" | "Component";
  resources?: string[];
  components?: string[];
  configMapGenerator?: { name: string; namespace?: string; files?: string[] }[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  [key: string]: unknown;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [key: string]: unknown;
}

export const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "resources", "components", "configMapGenerator", "labels", "images"]);

export function readKustomization(dir: string): Kustomization {
  return parse(readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as Kustomization;
}

/** Every folder under `root` holding a kustomization.yaml. */
export function kustomizationDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (existsSync(path.join(d, "kustomization.yaml"))) out.push(d);
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/** The objects `kubectl apply -k dir` would create (generated ConfigMaps without their hash suffix). */
export function build(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const out: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (statSync(p).isDirectory()) out.push(...build(p));
    else for (const doc of parseAllDocuments(readFileSync(p, "utf8"))) out.push(doc.toJS() as K8sObject);
  }
  for (const c of k.components ?? []) out.push(...build(path.resolve(dir, c)));
  for (const g of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const f of g.files ?? []) data[path.basename(f)] = readFileSync(path.resolve(dir, f), "utf8");
    out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name, ...(g.namespace ? { namespace: g.namespace } : {}) }, data });
  }
  for (const l of k.labels ?? []) for (const o of out) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  return out;
}
