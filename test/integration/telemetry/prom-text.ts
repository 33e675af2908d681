// A strict reader of the Prometheus text exposition format (0.0.4), enough to prove that
// /metrics is well-formed: every sample line parses, and belongs to a family with a TYPE.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/;

// Prometheus reads values with Go's strconv.ParseFloat, which accepts NaN and Inf in any
// case (prom-client prints "Nan" for an empty event-loop histogram).
function parseValue(text: string, line: string): number {
  const lower = text.toLowerCase();
  if (lower === "+inf" || lower === "inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  if (!/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

export function parsePromText(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (m === null) continue; // plain comment
      if (m[1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(m[3]!)) throw new Error(`bad TYPE: ${line}`);
        out.types.set(m[2]!, m[3]!);
      } else out.help.set(m[2]!, m[3]!);
      continue;
    }
    const nm = NAME.exec(line);
    if (nm === null) throw new Error(`bad sample line: ${line}`);
    let rest = line.slice(nm[0].length);
    const labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      rest = rest.slice(1);
      while (!rest.startsWith("}")) {
        const lm = LABEL.exec(rest);
        if (lm === null) throw new Error(`bad labels in: ${line}`);
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
        rest = rest.slice(lm[0].length);
        if (rest.startsWith(",")) rest = rest.slice(1);
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || !rest.startsWith(" ")) throw new Error(`bad sample line: ${line}`);
    out.samples.push({ name: nm[0], labels, value: parseValue(parts[0]!, line) });
  }
  for (const s of out.samples) {
    const family = out.types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, "");
    if (!out.types.has(family)) throw new Error(`sample ${s.name} has no TYPE line`);
  }
  return out;
}

export function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
