// `l7proxy observe`: reads /flows from a running proxy's admin server, the way
// `hubble observe` reads Hubble, and prints one line per flow (or JSON with --json).

import { get, type IncomingMessage } from "node:http";
import { parseArgs } from "node:util";
import { filterToParams, type FlowFilter } from "../telemetry/flow-filter.js";
import { formatFlowLine } from "../telemetry/flow-format.js";
import type { FlowRecord } from "../telemetry/flow-record.js";

export const OBSERVE_USAGE = `Usage: l7proxy observe [options]

Show flow records from a running l7proxy (its admin server's /flows), one line per flow:
  DROPPED  default/tiefighter -> default/deathstar-1:80  http PUT /v1/exhaust-port 403  policy default/rule1

Options:
  --admin ADDR          admin server HOST:PORT or http://HOST:PORT (default 127.0.0.1:9901)
  --verdict V           FORWARDED, DROPPED or AUDIT (policy audit mode: denied by policy, forwarded)
  --namespace NS        flows from or to this namespace
  --pod NAME            flows from or to this pod (NAME or NAMESPACE/NAME)
  --workload NAME       flows from or to this workload (NAME or NAMESPACE/NAME)
  --protocol P          http, tcp, udp, ...
  --policy REF          flows decided by this policy (NAMESPACE/NAME, NAME, default-deny)
  --last N              the last N matching flows (default 20; with --follow, default 0)
  -f, --follow          keep printing new flows until interrupted
  --json                print the records as JSON lines
  --no-color            never colour the output (colour is used only on a terminal)
  -h, --help            show this help

Exit codes: 0 success, 1 the admin server could not be read, 2 usage error.
`;

export interface ObserveIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  /** Stops --follow (the command then exits 0). */
  signal?: AbortSignal;
}

class UsageError extends Error {}

interface ObserveArgs {
  base: URL;
  filter: FlowFilter;
  last: number | undefined;
  follow: boolean;
  json: boolean;
  noColor: boolean;
}

function parseAdmin(text: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--admin: expected HOST:PORT or http://HOST:PORT, got '${text}'`);
  }
  if (url.protocol !== "http:") throw new UsageError(`--admin: only http:// is supported, got '${text}'`);
  if (url.port === "") throw new UsageError(`--admin: give a port, e.g. 127.0.0.1:9901 (got '${text}')`);
  return url;
}

function parse(argv: string[]): ObserveArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        admin: { type: "string", default: "127.0.0.1:9901" },
        verdict: { type: "string" },
        namespace: { type: "string" },
        pod: { type: "string" },
        workload: { type: "string" },
        protocol: { type: "string" },
        policy: { type: "string" },
        last: { type: "string" },
        follow: { type: "boolean", short: "f", default: false },
        json: { type: "boolean", default: false },
        "no-color": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return "help";
  const filter: FlowFilter = {};
  if (values.verdict !== undefined) {
    const v = values.verdict.toUpperCase();
    if (v !== "FORWARDED" && v !== "DROPPED" && v !== "AUDIT") {
      throw new UsageError(`--verdict: expected FORWARDED, DROPPED or AUDIT, got '${values.verdict}'`);
    }
    filter.verdict = v;
  }
  for (const key of ["namespace", "pod", "workload", "policy"] as const) {
    const v = values[key];
    if (v === undefined) continue;
    if (v === "") throw new UsageError(`--${key}: empty value`);
    filter[key] = v;
  }
  if (values.protocol !== undefined) {
    if (values.protocol === "") throw new UsageError("--protocol: empty value");
    filter.protocol = values.protocol.toLowerCase();
  }
  let last: number | undefined;
  if (values.last !== undefined) {
    if (!/^\d{1,9}$/.test(values.last)) throw new UsageError(`--last: expected a non-negative integer, got '${values.last}'`);
    last = Number(values.last);
  } else if (!values.follow) {
    last = 20;
  }
  return { base: parseAdmin(values.admin), filter, last, follow: values.follow, json: values.json, noColor: values["no-color"] };
}

function flowsUrl(a: ObserveArgs): URL {
  const params = filterToParams(a.filter);
  if (a.last !== undefined) params.set("last", String(a.last));
  if (a.follow) params.set("follow", "1");
  const url = new URL("/flows", a.base);
  url.search = params.toString();
  return url;
}

function open(url: URL, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ...(signal !== undefined ? { signal } : {}) }, resolve);
    req.on("error", reject);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding("utf8");
  let body = "";
  for await (const chunk of res) body += chunk as string;
  return body;
}

export async function runObserve(argv: string[], io: ObserveIO): Promise<number> {
  let args: ObserveArgs | "help";
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`l7proxy observe: ${err.message}\n\n${OBSERVE_USAGE}`);
    return 2;
  }
  if (args === "help") {
    io.stdout.write(OBSERVE_USAGE);
    return 0;
  }
  const color = !args.noColor && !args.json && io.stdout.isTTY === true;
  const print = (line: string): void => {
    if (line === "") return;
    if (args.json) {
      io.stdout.write(`${line}\n`);
      return;
    }
    io.stdout.write(`${formatFlowLine(JSON.parse(line) as FlowRecord, { color })}\n`);
  };

  const url = flowsUrl(args);
  let res: IncomingMessage;
  try {
    res = await open(url, io.signal);
  } catch (err) {
    if (io.signal?.aborted === true) return 0;
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    io.stderr.write(`l7proxy observe: cannot reach the admin server at ${args.base.host}: ${code} (is 'l7proxy run' going, with --admin?)\n`);
    return 1;
  }
  if (res.statusCode !== 200) {
    const body = await readAll(res).catch(() => "");
    io.stderr.write(`l7proxy observe: ${url.pathname} answered ${res.statusCode}: ${body.trim()}\n`);
    return 1;
  }
  res.setEncoding("utf8");
  let buf = "";
  try {
    for await (const chunk of res) {
      buf += chunk as string;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        print(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
  } catch (err) {
    if (io.signal?.aborted === true) return 0;
    io.stderr.write(`l7proxy observe: the admin server closed the stream: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  print(buf);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once("SIGINT", onSigint);
  try {
    return await runObserve(argv, { stdout: process.stdout, stderr: process.stderr, signal: stop.signal });
  } finally {
    process.off("SIGINT", onSigint);
  }
}
