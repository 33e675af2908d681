// Hostile HTTP/1.1 over real interception: each shape is refused with 400 (or 431) and the
// connection closed, nothing of it reaches the upstream (which records every byte it
// receives), and a bystander's keep-alive connection carries on undisturbed.
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { rawExchange } from "../support/raw-http.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("smuggling e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const RECORD = join(tmpdir(), `l7proxy-smuggling-${process.pid}.raw`);
const UPSTREAM = "10.203.0.20";

// Every hostile request names a path containing "SMUGGLE" so the upstream's record can be
// searched for any trace of it.
const H = "Host: upstream\r\n";
const SHAPES: [string, string, number][] = [
  ["Content-Length with Transfer-Encoding", `POST /SMUGGLE1 HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /SMUGGLE1b HTTP/1.1\r\n${H}\r\n`, 400],
  ["duplicate Content-Length", `POST /SMUGGLE2 HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`, 400],
  ["invalid Content-Length", `POST /SMUGGLE3 HTTP/1.1\r\n${H}Content-Length: +4\r\n\r\nabcd`, 400],
  ["Transfer-Encoding other than chunked", `POST /SMUGGLE4 HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 400],
  ["Transfer-Encoding obfuscated", `POST /SMUGGLE5 HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400],
  ["obs-fold", `GET /SMUGGLE6 HTTP/1.1\r\n${H}X-Folded: a\r\n  b\r\n\r\n`, 400],
  ["bare LF", `GET /SMUGGLE7 HTTP/1.1\n${H}\n`, 400],
  ["bare CR", `GET /SMUGGLE8 HTTP/1.1\r${H}\r\n`, 400],
  ["NUL in a header value", `GET /SMUGGLE9 HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, 400],
  ["control character in a header value", `GET /SMUGGLE10 HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, 400],
  ["whitespace before the colon", `GET /SMUGGLE11 HTTP/1.1\r\nHost : upstream\r\n\r\n`, 400],
  ["oversized header block", `GET /SMUGGLE12 HTTP/1.1\r\n${H}X-Big: ${"a".repeat(100_000)}\r\n\r\n`, 431],
];

describe.runIf(canRun)("hostile HTTP/1.1 through the proxy", () => {
  const cluster = new NetnsCluster(`sm${process.pid % 100000}`, {
    endpointsFile: join(FIX, "smuggling-endpoints.yaml"),
    adminPort: 9903,
    servers: [{ pod: "upstream", script: "demo/echo-server.js", args: ["80", "upstream", RECORD] }],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([join(FIX, "smuggling-policy.yaml")]);
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await rm(RECORD, { force: true });
  }, 60_000);

  test("a valid request passes (the test can tell)", async () => {
    const r = await rawExchange(cluster.topo.pod("client").netns, UPSTREAM, 80, `GET /fine HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(r.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(await readFile(RECORD, "latin1")).toContain("GET /fine HTTP/1.1");
  });

  test.each(SHAPES)("%s is refused and never forwarded", async (_name, payload, status) => {
    // A bystander's keep-alive connection sends one request before and one after.
    const bystander = rawExchange(
      cluster.topo.pod("bystander").netns,
      UPSTREAM,
      80,
      [`GET /bystander-1 HTTP/1.1\r\n${H}\r\n`, `GET /bystander-2 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
      { gapMs: 600, waitMs: 3000 },
    );
    await new Promise((r) => setTimeout(r, 200));
    const r = await rawExchange(cluster.topo.pod("client").netns, UPSTREAM, 80, payload);
    expect(r.response.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
    expect(r.end).toBe("closed");
    const b = await bystander;
    expect(b.response.match(/HTTP\/1\.1 200 /g)?.length).toBe(2);
    const record = await readFile(RECORD, "latin1");
    expect(record).not.toContain("SMUGGLE");
  });
});
