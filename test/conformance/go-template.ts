// Renders the subset of Go text/template that Cilium's connectivity-test and Helm manifests
// use, with plausible values, so those manifests can be loaded like any other policy file.
// Unknown functions or fields throw: a silently half-rendered file would prove nothing.

import { isIPv6 } from "node:net";

export type TemplateValue = string | number | TemplateValue[] | { [key: string]: TemplateValue };

export const PLAUSIBLE_VALUES: Record<string, TemplateValue> = {
  TestNamespace: "cilium-test-1",
  ClusterNameLocal: "cluster-a",
  ClusterNameRemote: "cluster-b",
  ExternalTarget: "one.one.one.one.",
  ExternalOtherTarget: "k8s.io.",
  ExternalTargetOther: "k8s.io.",
  FakeExternalTarget: "fake.example.com.",
  FakeExternalOtherTarget: "other.example.org.",
  ExternalTargetCAName: "cabundle",
  ExternalTargetCANamespace: "cilium-test-1",
  ExternalIP: "1.1.1.1",
  ExternalIPv4: "1.1.1.1",
  ExternalIPv6: "2606:4700:4700::1111",
  ExternalOtherIPv4: "1.0.0.1",
  ExternalOtherIPv6: "2606:4700:4700::1001",
  ExternalCIDR: "1.0.0.0/8",
  ExternalCIDRv4: "1.0.0.0/8",
  ExternalCIDRv6: "2606:4700::/32",
  ExternalDeploymentPort: "8080",
  K8sCIDR: "10.96.0.0/12",
  NodeCIDRs: ["192.168.1.0/24", "192.168.2.0/24"],
  ControlPlaneCIDRs: ["192.168.0.10/32"],
  NodesWithoutCiliumIPs: [{ IP: "192.168.1.5", Mask: "32" }],
  Values: { Namespace: "second-ns" },
};

const ACTION = /\{\{(-?)\s*(.*?)\s*(-?)\}\}/gs;

export function renderGoTemplate(text: string, values: Record<string, TemplateValue> = PLAUSIBLE_VALUES): string {
  return renderBlock(text, { root: values, dot: values, vars: {} });
}

interface Scope {
  root: Record<string, TemplateValue>;
  dot: TemplateValue;
  vars: Record<string, TemplateValue>;
}

function renderBlock(text: string, scope: Scope): string {
  let out = "";
  let pos = 0;
  ACTION.lastIndex = 0;
  for (;;) {
    ACTION.lastIndex = pos;
    const m = ACTION.exec(text);
    if (m === null) break;
    const [whole, trimLeft, body = "", trimRight] = m;
    let literal = text.slice(pos, m.index);
    if (trimLeft === "-") literal = literal.replace(/\s+$/, "");
    out += literal;
    let next = m.index + whole.length;
    const range = /^range\s+(?:(\$\w+)\s*:=\s*)?(.+)$/.exec(body);
    if (range !== null) {
      const endAt = findEnd(text, next);
      let inner = text.slice(next, endAt.start);
      if (trimRight === "-") inner = inner.replace(/^\s+/, "");
      if (endAt.trimLeft) inner = inner.replace(/\s+$/, "");
      const list = evaluate(range[2] ?? "", scope);
      if (!Array.isArray(list)) throw new Error(`range over non-list ${range[2]}`);
      for (const item of list) {
        out += renderBlock(inner, { ...scope, dot: item, vars: range[1] === undefined ? scope.vars : { ...scope.vars, [range[1]]: item } });
      }
      next = endAt.end;
      pos = next;
      if (endAt.trimRight) pos += (/^\s*/.exec(text.slice(pos))?.[0].length ?? 0);
      continue;
    }
    out += String(evaluate(body, scope));
    pos = next;
    if (trimRight === "-") pos += (/^\s*/.exec(text.slice(pos))?.[0].length ?? 0);
  }
  return out + text.slice(pos);
}

function findEnd(text: string, from: number): { start: number; end: number; trimLeft: boolean; trimRight: boolean } {
  let depth = 1;
  const re = /\{\{(-?)\s*(range\b|end\b)[^}]*?(-?)\}\}/g;
  re.lastIndex = from;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    depth += m[2] === "end" ? -1 : 1;
    if (depth === 0) return { start: m.index, end: m.index + m[0].length, trimLeft: m[1] === "-", trimRight: m[3] === "-" };
  }
  throw new Error("range without end");
}

function evaluate(expr: string, scope: Scope): TemplateValue {
  const stages = splitPipeline(expr);
  let value = evalCall(stages[0] ?? "", scope, undefined);
  for (const stage of stages.slice(1)) value = evalCall(stage, scope, value);
  return value;
}

function splitPipeline(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  let inString = false;
  for (const ch of expr) {
    if (ch === '"') inString = !inString;
    if (!inString && ch === "(") depth++;
    if (!inString && ch === ")") depth--;
    if (!inString && depth === 0 && ch === "|") {
      parts.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  parts.push(cur.trim());
  return parts;
}

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|\((?:[^()]|\([^()]*\))*\)|[^\s()]+)/gy;
  for (let m = re.exec(expr); m !== null && m[1] !== undefined; m = re.exec(expr)) tokens.push(m[1]);
  return tokens;
}

function evalCall(stage: string, scope: Scope, piped: TemplateValue | undefined): TemplateValue {
  const [head = "", ...rest] = tokenize(stage);
  const args = rest.map((t) => evalArg(t, scope));
  if (piped !== undefined) args.push(piped);
  if (!/^[a-zA-Z]\w*$/.test(head)) {
    if (args.length > 0) throw new Error(`cannot call ${head}`);
    return evalArg(head, scope);
  }
  const fn = FUNCTIONS[head];
  if (fn === undefined) throw new Error(`unknown template function ${head}`);
  return fn(args.map(String));
}

function evalArg(token: string, scope: Scope): TemplateValue {
  if (token.startsWith('"')) return JSON.parse(token) as string;
  if (token.startsWith("(")) return evaluate(token.slice(1, -1), scope);
  if (token === ".") return scope.dot;
  const variable = /^(\$\w+)(.*)$/.exec(token);
  const [base, fields] = variable !== null ? [scope.vars[variable[1] ?? ""], variable[2] ?? ""] : [scope.root as TemplateValue, token];
  let v: TemplateValue | undefined = base;
  for (const f of fields.split(".").filter((x) => x !== "")) {
    if (v === undefined || typeof v !== "object" || Array.isArray(v)) throw new Error(`cannot read .${f} in ${token}`);
    v = v[f];
  }
  if (v === undefined) throw new Error(`no value for ${token}`);
  return v;
}

const FUNCTIONS: Record<string, (args: string[]) => TemplateValue> = {
  // cilium-cli registers strings.TrimSuffix(s, suffix), not sprig's (suffix, s).
  trimSuffix: ([s = "", suffix = ""]) => (s.endsWith(suffix) ? s.slice(0, s.length - suffix.length) : s),
  ipToCIDR: ([ip = ""]) => `${ip}/${isIPv6(ip) ? 128 : 32}`,
  // cilium-cli builds a matchPattern that covers both targets; any valid pattern will do here.
  generateDNSMatchPatternWithWildcard: ([target = "", , mode = ""]) => {
    const labels = target.split(".");
    if (mode === "subdomain-prefix") return `*.${labels.slice(1).join(".")}`;
    if (mode === "any-prefix" || mode === "random-any-prefix") return `*${labels.slice(1).join(".")}`;
    return `${(labels[0] ?? "").slice(0, 1)}*.${labels.slice(1).join(".")}`;
  },
};
