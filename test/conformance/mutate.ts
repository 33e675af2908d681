// Systematic mutations of a policy manifest for the schema oracle: at every node, swap the
// type, delete it, add an unknown sibling; at known keys, put values just outside what is
// allowed. apiVersion and kind are left alone (they choose which schema applies at all).

export interface Mutation {
  description: string;
  manifest: Record<string, unknown>;
  /** Only adds an unknown field: the schema accepts it, l7proxy must not. */
  unknownField: boolean;
}

type Path = (string | number)[];

// Values just outside the allowed set, by the key that holds them.
const BAD_VALUES: Record<string, unknown[]> = {
  protocol: ["tcp", "ICMP", ""],
  operator: ["Equal", "in"],
  port: ["", "-1", "8080-8090", 80],
  endPort: [70000, -1, "8080", 80.5],
  mismatch: ["DROP", "log"],
  role: ["admin", "Produce"],
  family: ["IPv5"],
  type: ["Ping", 1.5],
  mode: ["optional"],
  cidr: ["10.0.0.0/33", "10.0.0.1", "not-a-cidr"],
  matchName: ["a b.com", "x/y", "x".repeat(256)],
  matchPattern: ["a/b", "*.x y", "x".repeat(256)],
  topic: ["t".repeat(256)],
  cidrGroupRef: ["Upper_Case"],
  priority: [0, 101],
  name: [""],
  value: ["x".repeat(33), 5],
  kind: ["Unknown"],
};
const BAD_LIST_ITEMS: Record<string, unknown[]> = {
  toEntities: ["worlds", "world-ipv4"],
  fromEntities: ["worlds", "World"],
  toCIDR: ["10.0.0.0/40", "1.2.3.4", "::1/200"],
  fromCIDR: ["10.0.0.0/40", "1.2.3.4"],
  except: ["10.0.0.0/40"],
  serverNames: ["a b", ""],
  headers: [5],
};

export function* mutations(manifest: Record<string, unknown>): Generator<Mutation> {
  const nodes: { path: Path; value: unknown }[] = [];
  collect(manifest, [], nodes);
  for (const { path, value } of nodes) {
    if (path.length === 0) continue;
    const top = path[0];
    if (top === "apiVersion" || top === "kind" || top === "status") continue;
    const key = path[path.length - 1];
    const at = path.join(".");
    const variants: [string, unknown][] = [];
    if (typeof value === "string") variants.push(["string->number", 12345], ["string->list", [value]]);
    else if (typeof value === "number") variants.push(["number->string", String(value)], ["number->bool", true]);
    else if (typeof value === "boolean") variants.push(["bool->string", String(value)]);
    else if (Array.isArray(value)) variants.push(["list->string", "x"], ["list->object", {}], ["list->null", null]);
    else if (value !== null && typeof value === "object") variants.push(["object->string", "x"], ["object->list", []], ["object->null", null]);
    if (typeof key === "string") for (const bad of BAD_VALUES[key] ?? []) variants.push([`bad ${key}`, bad]);
    if (typeof key === "string" && Array.isArray(value)) {
      for (const bad of BAD_LIST_ITEMS[key] ?? []) variants.push([`bad item in ${key}`, [...value, bad]]);
      if (key === "ports") variants.push(["41 ports", Array.from({ length: 41 }, (_, i) => ({ port: String(1000 + i), protocol: "TCP" }))]);
    }
    for (const [what, v] of variants) yield { description: `${at}: ${what}`, manifest: replaced(manifest, path, v), unknownField: false };
    yield { description: `${at}: deleted`, manifest: deleted(manifest, path), unknownField: false };
    if (value !== null && typeof value === "object" && !Array.isArray(value) && !isFreeFormMap(path)) {
      yield { description: `${at}: unknown field`, manifest: replaced(manifest, path, { ...value, unknownFieldX: "x" }), unknownField: true };
    }
  }
  // Structural mutations the generic walk cannot produce.
  const spec = manifest["spec"];
  if (spec !== null && typeof spec === "object") {
    const rule = spec as Record<string, unknown>;
    yield { description: "spec: both selectors", manifest: replaced(manifest, ["spec"], { ...rule, endpointSelector: {}, nodeSelector: {} }), unknownField: false };
    const noDirections = Object.fromEntries(Object.entries(rule).filter(([k]) => !["ingress", "ingressDeny", "egress", "egressDeny"].includes(k)));
    yield { description: "spec: no direction", manifest: replaced(manifest, ["spec"], noDirections), unknownField: false };
  }
  const noSpec = Object.fromEntries(Object.entries(manifest).filter(([k]) => k !== "spec" && k !== "specs"));
  yield { description: "no spec or specs", manifest: noSpec, unknownField: false };
}

// matchLabels, metadata, annotations and generic l7 rules are maps whose keys are data.
function isFreeFormMap(path: Path): boolean {
  const key = path[path.length - 1];
  return path[0] === "metadata" || key === "matchLabels" || key === "labels" || path.includes("l7");
}

function collect(value: unknown, path: Path, out: { path: Path; value: unknown }[]): void {
  out.push({ path, value });
  if (Array.isArray(value)) value.forEach((v, i) => collect(v, [...path, i], out));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) collect(v, [...path, k], out);
}

function replaced(root: Record<string, unknown>, path: Path, v: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let node: unknown = copy;
  for (const seg of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[seg];
  (node as Record<string | number, unknown>)[path[path.length - 1] as string | number] = v;
  return copy;
}

function deleted(root: Record<string, unknown>, path: Path): Record<string, unknown> {
  const copy = structuredClone(root);
  let node: unknown = copy;
  for (const seg of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[seg];
  const last = path[path.length - 1] as string | number;
  if (Array.isArray(node) && typeof last === "number") node.splice(last, 1);
  else delete (node as Record<string | number, unknown>)[last];
  return copy;
}
