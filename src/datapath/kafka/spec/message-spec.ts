// The shape of Apache Kafka's message specs as the generator emits them (compact tuples),
// and their inflated form. A field is on the wire in a version when the version is inside
// [versionLo, versionHi]; in a flexible version a field with a tag travels in the tagged
// section instead of in order.

export type KafkaPrim =
  | "bool" | "int8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "float64"
  | "string" | "bytes" | "records" | "uuid";
export type KafkaFieldType = KafkaPrim | "struct";
export type VersionRange = readonly [number, number];

export type RawField = readonly [
  name: string,
  type: string,
  isArray: 0 | 1,
  versionLo: number,
  versionHi: number,
  nullable: readonly number[] | null,
  tag: number | null,
  tagged: readonly number[] | null,
  dflt: string | null,
  isTopicName: 0 | 1,
  fields: readonly RawField[] | null,
];

export interface RawMessage {
  readonly apiKey: number;
  readonly name: string;
  readonly valid: readonly number[];
  readonly flexible: readonly number[] | null;
  readonly fields: readonly RawField[];
}

export function inRange(r: readonly number[] | null, v: number): boolean {
  return r !== null && v >= r[0]! && v <= r[1]!;
}
