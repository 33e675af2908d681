#!/usr/bin/env node
// Generates src/datapath/kafka/spec/messages.generated.ts from Apache Kafka's message specs
// in src/datapath/kafka/spec/json/ (Apache-2.0, LICENSE and NOTICE there). The output keeps
// each message's field tree with its version ranges, common structs inlined, so the decoder
// and encoder can resolve one (API, version) layout from it. Usage:
//   node scripts/gen-kafka-messages.mjs          write the file
//   node scripts/gen-kafka-messages.mjs --check  exit 1 if the file is out of date
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const specDir = join(root, "src/datapath/kafka/spec/json");
const outFile = join(root, "src/datapath/kafka/spec/messages.generated.ts");
const MAX = 32767;

/** The specs are JSON with whole-line `//` comments. */
function readSpec(file) {
  const text = readFileSync(join(specDir, file), "utf8")
    .split("\n")
    .filter((l) => !/^\s*\/\//.test(l))
    .join("\n");
  return JSON.parse(text);
}

function range(text, what) {
  if (text === undefined || text === "none") return null;
  let m = /^(\d+)\+$/.exec(text);
  if (m) return [Number(m[1]), MAX];
  m = /^(\d+)-(\d+)$/.exec(text);
  if (m) return [Number(m[1]), Number(m[2])];
  m = /^(\d+)$/.exec(text);
  if (m) return [Number(m[1]), Number(m[1])];
  throw new Error(`${what}: bad version range ${JSON.stringify(text)}`);
}

const PRIMS = new Set(["bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "string", "bytes", "records", "uuid"]);

function convertFields(fields, common, where) {
  return fields.map((f) => {
    const at = `${where}.${f.name}`;
    const array = f.type.startsWith("[]");
    const base = array ? f.type.slice(2) : f.type;
    let type = base;
    let sub = null;
    if (!PRIMS.has(base)) {
      type = "struct";
      const defs = f.fields ?? common.get(base)?.fields;
      if (defs === undefined) throw new Error(`${at}: unknown type ${f.type}`);
      sub = convertFields(defs, common, at);
    }
    const versions = range(f.versions, at);
    if (versions === null) throw new Error(`${at}: no versions`);
    const tagged = f.tag === undefined ? null : range(f.taggedVersions, at);
    return [
      f.name,
      type,
      array ? 1 : 0,
      versions[0],
      versions[1],
      range(f.nullableVersions, at),
      f.tag === undefined ? null : Number(f.tag),
      tagged,
      f.default === undefined ? null : String(f.default),
      f.entityType === "topicName" ? 1 : 0,
      sub,
    ];
  });
}

function convert(file) {
  const spec = readSpec(file);
  const common = new Map((spec.commonStructs ?? []).map((s) => [s.name, s]));
  return {
    apiKey: spec.apiKey,
    name: spec.name.replace(/(Request|Response)$/, ""),
    valid: range(spec.validVersions, file),
    flexible: range(spec.flexibleVersions, file),
    fields: convertFields(spec.fields, common, spec.name),
  };
}

function emitFields(fields, indent) {
  const pad = " ".repeat(indent);
  return fields
    .map((f) => {
      const sub = f[10];
      const head = JSON.stringify(f.slice(0, 10));
      if (sub === null) return `${pad}[${head.slice(1, -1)}, null],`;
      return `${pad}[${head.slice(1, -1)}, [\n${emitFields(sub, indent + 2)}\n${pad}]],`;
    })
    .join("\n");
}

function emitTable(name, messages) {
  const body = messages
    .sort((a, b) => a.apiKey - b.apiKey)
    .map(
      (m) =>
        `  ${m.apiKey}: {\n    apiKey: ${m.apiKey}, name: ${JSON.stringify(m.name)}, valid: ${JSON.stringify(m.valid)}, flexible: ${JSON.stringify(m.flexible)},\n    fields: [\n${emitFields(m.fields, 6)}\n    ],\n  },`,
    )
    .join("\n");
  return `export const ${name}: Readonly<Record<number, RawMessage>> = {\n${body}\n};\n`;
}

// Produce v12 and v13 come from Kafka 4.1 (KIP-890 part 2, KIP-516), after the snapshot in
// spec/json: v12 has v11's layout; v13 names each topic by TopicId (uuid) instead of Name, in
// the request's TopicData and the response's Responses. Applied here so the copies stay as
// Apache ships them; drop this once spec/json holds 4.1's files.
function produceV13(message, listField) {
  if (message.apiKey !== 0) return message;
  const list = message.fields.find((f) => f[0] === listField);
  const sub = list[10];
  const at = sub.findIndex((f) => f[0] === "Name");
  const name = [...sub[at]];
  name[4] = 12;
  const topicId = ["TopicId", "uuid", 0, 13, MAX, null, null, null, null, 0, null];
  sub.splice(at, 1, name, topicId);
  return { ...message, valid: [message.valid[0], 13] };
}

const files = readdirSync(specDir).filter((f) => f.endsWith(".json")).sort();
const requests = files.filter((f) => f.endsWith("Request.json")).map(convert).map((m) => produceV13(m, "TopicData"));
const responses = files.filter((f) => f.endsWith("Response.json")).map(convert).map((m) => produceV13(m, "Responses"));

const out = `// GENERATED by scripts/gen-kafka-messages.mjs from src/datapath/kafka/spec/json/ — do not edit.
// Derived from Apache Kafka's message specifications, Copyright The Apache Software
// Foundation, licensed under the Apache License 2.0 (see spec/json/LICENSE and NOTICE).
//
// Field tuple: [name, type, isArray, versionLo, versionHi, nullable [lo, hi] | null,
//               tag | null, taggedVersions [lo, hi] | null, default | null, isTopicName, fields | null]

import type { RawMessage } from "./message-spec.js";

${emitTable("REQUEST_SPECS", requests)}
${emitTable("RESPONSE_SPECS", responses)}`;

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(outFile, "utf8");
  } catch {
    /* missing counts as out of date */
  }
  if (current !== out) {
    console.error(`${outFile} is out of date: run node scripts/gen-kafka-messages.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(outFile, out);
  console.log(`wrote ${outFile}: ${requests.length} requests, ${responses.length} responses`);
}
