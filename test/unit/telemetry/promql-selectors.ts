// A small PromQL reader for the dashboard test: it tokenises an expression, checks that
// brackets balance and functions are known, and returns every series selector (metric
// name and label matchers) and every label named in by/without/on/ignoring/group_* lists.
// Not a full PromQL parser: enough to know which metrics and labels a query relies on.

export interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

export interface Selector {
  metric: string;
  matchers: Matcher[];
}

export interface QueryNames {
  selectors: Selector[];
  groupingLabels: string[];
}

type Token =
  | { kind: "ident"; text: string }
  | { kind: "string"; text: string }
  | { kind: "number"; text: string }
  | { kind: "punct"; text: string };

const FUNCTIONS = new Set([
  "abs", "absent", "avg", "avg_over_time", "bottomk", "ceil", "clamp_max", "clamp_min", "count", "count_over_time",
  "delta", "deriv", "floor", "group", "histogram_quantile", "increase", "irate", "label_replace", "max",
  "max_over_time", "min", "min_over_time", "quantile", "quantile_over_time", "rate", "round", "scalar", "sort",
  "sort_desc", "stddev", "sum", "sum_over_time", "time", "topk", "vector",
  // Grafana's variable query function.
  "label_values",
]);
const AGGREGATIONS = new Set(["sum", "avg", "max", "min", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "group", "count_values"]);
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set([...LABEL_LIST_KEYWORDS, "and", "or", "unless", "bool", "offset"]);

/** Grafana's built-in interval variables become a plain duration before parsing. */
export function expandGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m").replace(/\$\{__(rate_interval|interval|range)\}/g, "5m");
}

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      let text = "";
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === "\\" && c !== "`") {
          text += expr[j + 1] ?? "";
          j += 2;
        } else text += expr[j++];
      }
      if (j >= expr.length) throw new Error(`unterminated string in: ${expr}`);
      out.push({ kind: "string", text });
      i = j + 1;
      continue;
    }
    const num = /^(\d+(\.\d+)?([eE][-+]?\d+)?([smhdwy]|ms)?)/.exec(expr.slice(i));
    if (num !== null) {
      out.push({ kind: "number", text: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i));
    if (id !== null) {
      out.push({ kind: "ident", text: id[0] });
      i += id[0].length;
      continue;
    }
    const op = /^(=~|!~|!=|==|<=|>=|[-+*/%^(){}[\],=<>])/.exec(expr.slice(i));
    if (op === null) throw new Error(`unexpected '${c}' in: ${expr}`);
    out.push({ kind: "punct", text: op[0] });
    i += op[0].length;
  }
  return out;
}

export function readQuery(rawExpr: string): QueryNames {
  const expr = expandGrafanaVariables(rawExpr);
  const toks = tokenize(expr);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const stack: string[] = [];
  const at = (k: number): Token | undefined => toks[k];
  const isPunct = (t: Token | undefined, p: string) => t?.kind === "punct" && t.text === p;

  function readMatchers(k: number): [Matcher[], number] {
    // toks[k] is "{"
    const matchers: Matcher[] = [];
    k++;
    while (!isPunct(at(k), "}")) {
      const label = at(k);
      const op = at(k + 1);
      const value = at(k + 2);
      if (label?.kind !== "ident" || op?.kind !== "punct" || !["=", "!=", "=~", "!~"].includes(op.text) || value?.kind !== "string") {
        throw new Error(`bad label matcher in: ${rawExpr}`);
      }
      matchers.push({ label: label.text, op: op.text as Matcher["op"], value: value.text });
      k += 3;
      if (isPunct(at(k), ",")) k++;
      else if (!isPunct(at(k), "}")) throw new Error(`expected ',' or '}' in: ${rawExpr}`);
    }
    return [matchers, k + 1];
  }

  let k = 0;
  while (k < toks.length) {
    const t = toks[k]!;
    if (t.kind === "ident") {
      const next = at(k + 1);
      if (LABEL_LIST_KEYWORDS.has(t.text)) {
        if (!isPunct(next, "(")) {
          if (t.text === "group_left" || t.text === "group_right") {
            k++;
            continue;
          }
          throw new Error(`'${t.text}' needs a label list in: ${rawExpr}`);
        }
        k += 2;
        while (!isPunct(at(k), ")")) {
          const l = at(k);
          if (l?.kind !== "ident") throw new Error(`bad label list in: ${rawExpr}`);
          groupingLabels.push(l.text);
          k++;
          if (isPunct(at(k), ",")) k++;
        }
        k++;
        continue;
      }
      if (KEYWORDS.has(t.text)) {
        k++;
        continue;
      }
      // `sum by (le) (...)`: the aggregation's grouping comes before its argument.
      if (AGGREGATIONS.has(t.text) && next?.kind === "ident" && (next.text === "by" || next.text === "without")) {
        k++;
        continue;
      }
      if (isPunct(next, "(")) {
        if (!FUNCTIONS.has(t.text)) throw new Error(`unknown function '${t.text}' in: ${rawExpr}`);
        k++;
        continue;
      }
      // A metric name, perhaps with matchers.
      let matchers: Matcher[] = [];
      k++;
      if (isPunct(at(k), "{")) [matchers, k] = readMatchers(k);
      selectors.push({ metric: t.text, matchers });
      continue;
    }
    if (isPunct(t, "{")) {
      const [matchers, nk] = readMatchers(k);
      const name = matchers.find((m) => m.label === "__name__" && m.op === "=");
      if (name === undefined) throw new Error(`selector without a metric name in: ${rawExpr}`);
      selectors.push({ metric: name.value, matchers: matchers.filter((m) => m !== name) });
      k = nk;
      continue;
    }
    if (t.kind === "punct") {
      if (t.text === "(" || t.text === "[") stack.push(t.text);
      if (t.text === ")" && stack.pop() !== "(") throw new Error(`unbalanced ')' in: ${rawExpr}`);
      if (t.text === "]" && stack.pop() !== "[") throw new Error(`unbalanced ']' in: ${rawExpr}`);
    }
    k++;
  }
  if (stack.length > 0) throw new Error(`unclosed '${stack.at(-1)}' in: ${rawExpr}`);
  return { selectors, groupingLabels };
}
