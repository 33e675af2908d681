// The demos as users run them: `l7proxy demo [starwars|grpc|kafka|dns]` from the built CLI,
// each with real interception in network namespaces. Each story checks its own steps and
// exits 1 if one did not turn out as told; here every one must hold, say so, and clean up.
import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { CLI } from "../../src/netns/cluster.js";
import { run } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("demos e2e");
// Each story names its namespaces with a prefix and its process id (src/cli/demo*.ts).
const PREFIX: Record<string, string> = { starwars: "sw", grpc: "cc", kafka: "kd", dns: "ex" };

function demo(story: string): Promise<{ code: number | null; stdout: string; stderr: string; tag: string; sawNamespaces: boolean }> {
  const child = spawn(process.execPath, [CLI, "demo", story], { stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 });
  const tag = `${PREFIX[story]}${(child.pid ?? 0) % 100000}-`;
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  // The tag is right only if its namespaces show up while the story runs.
  let sawNamespaces = false;
  const poll = setInterval(() => void namespacesTagged(tag).then((l) => (sawNamespaces ||= l.length > 0)), 500);
  return new Promise((resolve) =>
    child.once("close", (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr, tag, sawNamespaces });
    }),
  );
}

async function namespacesTagged(tag: string): Promise<string[]> {
  return (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(tag));
}

describe.runIf(canRun)("l7proxy demo", () => {
  const stories: [string, RegExp[]][] = [
    ["starwars", [/Access denied/, /The story held/]],
    ["grpc", [/SetAccessCode: PERMISSION_DENIED/, /DROPPED .* grpc \/cloudcity\.DoorManager\/SetAccessCode PERMISSION_DENIED/, /The story held/]],
    ["kafka", [/Broker: Topic authorization failed/, /DROPPED .* kafka .* 29 /, /The story held/]],
    ["dns", [/evil\.test: REFUSED/, /DROPPED .* dns A evil\.test\. REFUSED/, /docs\.example\.com\. {2}10\.211\.1\.11/, /The story held/]],
  ];
  for (const [story, lines] of stories) {
    test(`${story}: every step holds and nothing is left behind`, { timeout: 300_000 }, async () => {
      const r = await demo(story);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      for (const re of lines) expect(r.stdout).toMatch(re);
      expect(r.sawNamespaces).toBe(true);
      expect(await namespacesTagged(r.tag)).toEqual([]);
    });
  }
});
