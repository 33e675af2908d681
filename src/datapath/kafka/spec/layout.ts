// One (API, version) layout resolved from the generated spec tree: the fields on the wire in
// that version, in order, with their nullability, and the tagged fields by tag. Resolved once
// per (API, version) and cached: the decoder and encoder only walk these.

import { inRange, type KafkaFieldType, type RawField, type RawMessage } from "./message-spec.js";
import { REQUEST_SPECS, RESPONSE_SPECS } from "./messages.generated.js";

export interface FieldLayout {
  readonly name: string;
  readonly type: KafkaFieldType;
  readonly array: boolean;
  readonly nullable: boolean;
  readonly topicName: boolean;
  readonly dflt: string | null;
  /** Struct (or struct array element) layout. */
  readonly struct: StructLayout | null;
}

export interface StructLayout {
  readonly flexible: boolean;
  readonly fields: readonly FieldLayout[];
  readonly tagged: ReadonlyMap<number, FieldLayout>;
  /** Fewest bytes one value of this struct takes on the wire (bounds array counts). */
  readonly minBytes: number;
  /** Holds a topic name field or a TopicId uuid: where topics are collected. */
  readonly namesTopic: boolean;
}

export interface MessageLayout {
  readonly apiKey: number;
  readonly name: string;
  readonly version: number;
  readonly flexible: boolean;
  readonly body: StructLayout;
}

function primMin(type: KafkaFieldType, flexible: boolean): number {
  switch (type) {
    case "bool":
    case "int8":
      return 1;
    case "int16":
    case "uint16":
      return 2;
    case "int32":
    case "uint32":
      return 4;
    case "int64":
    case "float64":
      return 8;
    case "uuid":
      return 16;
    case "string":
      return flexible ? 1 : 2;
    case "bytes":
    case "records":
      return flexible ? 1 : 4;
    case "struct":
      return 0;
  }
}

function resolveStruct(raw: readonly RawField[], version: number, flexible: boolean): StructLayout {
  const fields: FieldLayout[] = [];
  const tagged = new Map<number, FieldLayout>();
  let minBytes = flexible ? 1 : 0;
  let namesTopic = false;
  for (const f of raw) {
    if (version < f[3] || version > f[4]) continue;
    const type = f[1] as KafkaFieldType;
    const layout: FieldLayout = {
      name: f[0],
      type,
      array: f[2] === 1,
      nullable: inRange(f[5], version),
      topicName: f[9] === 1,
      dflt: f[8],
      struct: f[10] === null ? null : resolveStruct(f[10], version, flexible),
    };
    if (layout.topicName || (layout.name === "TopicId" && type === "uuid")) namesTopic = true;
    if (flexible && f[6] !== null && inRange(f[7], version)) {
      tagged.set(f[6], layout);
      continue;
    }
    fields.push(layout);
    if (layout.array) minBytes += flexible ? 1 : 4;
    else if (layout.struct !== null) minBytes += layout.nullable ? 1 : layout.struct.minBytes;
    else minBytes += primMin(type, flexible);
  }
  return { flexible, fields, tagged, minBytes, namesTopic };
}

function resolver(specs: Readonly<Record<number, RawMessage>>): (apiKey: number, version: number) => MessageLayout | null {
  const cache = new Map<number, MessageLayout | null>();
  return (apiKey, version) => {
    const id = apiKey * 65536 + version;
    let l = cache.get(id);
    if (l !== undefined) return l;
    const spec = specs[apiKey];
    if (spec === undefined || !inRange(spec.valid, version)) {
      l = null;
    } else {
      const flexible = inRange(spec.flexible, version);
      l = { apiKey, name: spec.name, version, flexible, body: resolveStruct(spec.fields, version, flexible) };
    }
    // Only valid pairs (a bounded set) are cached; misses are cheap to recompute.
    if (l !== null) cache.set(id, l);
    return l;
  };
}

/** The layout of a request body, or null when the spec has no such API key or version. */
export const requestLayout = resolver(REQUEST_SPECS);
/** The layout of a response body (only the APIs in spec/json have one). */
export const responseLayout = resolver(RESPONSE_SPECS);

export function requestSpec(apiKey: number): RawMessage | undefined {
  return REQUEST_SPECS[apiKey];
}

/** Request header version: 2 for flexible versions, else 1; ControlledShutdown v0 has 0. */
export function requestHeaderVersion(apiKey: number, version: number): 0 | 1 | 2 {
  if (apiKey === 7 && version === 0) return 0;
  return inRange(REQUEST_SPECS[apiKey]?.flexible ?? null, version) ? 2 : 1;
}

/** Response header version: 1 for flexible versions, else 0; ApiVersions always 0 (KIP-511). */
export function responseHeaderVersion(apiKey: number, version: number): 0 | 1 {
  if (apiKey === 18) return 0;
  return inRange(REQUEST_SPECS[apiKey]?.flexible ?? null, version) ? 1 : 0;
}
