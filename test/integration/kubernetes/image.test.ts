// The Dockerfile cannot be built here (no Docker engine), so this checks what can be checked
// by reading it: every path it copies from the repository exists and is not excluded by
// .dockerignore, the files it copies between stages are the ones the build produces, both
// stages use the Node major the package targets, and what the build leaves out (the demo) is
// nothing the image needs.

import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dockerfile = readFileSync(path.join(repo, "Dockerfile"), "utf8");
const ignore = readFileSync(path.join(repo, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    pending += (pending ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) continue;
    const [op, ...rest] = pending.split(/\s+/);
    if (op!.toUpperCase() === "FROM") stage++;
    out.push({ op: op!.toUpperCase(), args: rest.join(" "), stage });
    pending = "";
  }
  return out;
}

const all = instructions(dockerfile);
const copies = all
  .filter((i) => i.op === "COPY")
  .map((i) => {
    const words = i.args.split(/\s+/);
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
    const paths = words.filter((w) => !w.startsWith("--"));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1)!, stage: i.stage };
  });

/** .dockerignore patterns used here are plain paths or prefixes (no globs besides a leading *). */
function ignored(p: string): boolean {
  const clean = p.replace(/\/$/, "");
  return ignore.some((pat) => {
    if (pat.startsWith("*")) return clean.endsWith(pat.slice(1));
    return clean === pat || clean.startsWith(`${pat}/`);
  });
}

describe("Dockerfile", () => {
  it("has a build stage and a slim runtime stage on the same Node major as package.json", () => {
    const arg = /^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)?.[1];
    const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${arg}`);
    const froms = all.filter((i) => i.op === "FROM").map((i) => i.args);
    expect(froms).toEqual(["node:${NODE_MAJOR}-bookworm AS build", "node:${NODE_MAJOR}-bookworm-slim"]);
  });

  it("copies only repository paths that exist and that .dockerignore lets through", () => {
    const fromRepo = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(fromRepo.length).toBeGreaterThan(3);
    for (const p of fromRepo) {
      expect(existsSync(path.join(repo, p)), `COPY ${p}: not in the repository`).toBe(true);
      expect(ignored(p), `COPY ${p}: excluded by .dockerignore`).toBe(false);
    }
    // Every source file the build needs is inside what is copied.
    expect(fromRepo).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "binding.gyp", "tsconfig.json", "tsconfig.build.json", "src/"]));
  });

  it("copies from the build stage exactly what the build produces", () => {
    const build = JSON.parse(readFileSync(path.join(repo, "tsconfig.build.json"), "utf8")) as { compilerOptions: { outDir: string; rootDir: string } };
    const gyp = JSON.parse(readFileSync(path.join(repo, "binding.gyp"), "utf8")) as { targets: { target_name: string; sources: string[] }[] };
    const fromBuild = copies.filter((c) => c.from === "build").flatMap((c) => c.sources);
    expect(fromBuild).toContain(`/app/${build.compilerOptions.outDir}/`);
    expect(fromBuild).toContain(`/app/build/Release/${gyp.targets[0]!.target_name}.node`);
    expect(fromBuild).toContain("/app/node_modules/");
    // The addon's C sources are in the early COPY that the native build runs after.
    for (const src of gyp.targets[0]!.sources) expect(copies.some((c) => c.from === undefined && c.sources.some((s) => src.startsWith(s)))).toBe(true);
    // The transparent-socket wrapper looks for the addon where the image puts it.
    const wrapper = readFileSync(path.join(repo, "src/intercept/transparent-socket.ts"), "utf8");
    expect(wrapper).toContain(`"../../build/Release/${gyp.targets[0]!.target_name}.node"`);
  });

  it("starts the CLI that src/cli/main.ts compiles to, and has a HEALTHCHECK on /healthz", () => {
    const entry = JSON.parse(all.find((i) => i.op === "ENTRYPOINT")!.args) as string[];
    expect(entry[0]).toBe("node");
    const rel = path.relative("/app/dist", entry[1]!).replace(/\.js$/, ".ts");
    expect(existsSync(path.join(repo, "src", rel))).toBe(true);
    expect(all.find((i) => i.op === "HEALTHCHECK")?.args).toMatch(/127\.0\.0\.1:9901\/healthz/);
  });

  it("installs the interception tools in the runtime stage", () => {
    const runtimeRuns = all.filter((i) => i.op === "RUN" && i.stage === 1).map((i) => i.args).join(" ");
    for (const pkg of ["nftables", "iproute2", "iptables"]) expect(runtimeRuns).toContain(pkg);
  });

  it("keeps host builds and dependencies out of the build context", () => {
    for (const p of ["node_modules", "dist", "build", ".git"]) expect(ignored(p)).toBe(true);
  });

  it("leaves out the demo, and nothing the image keeps imports what it leaves out", () => {
    const buildRuns = all.filter((i) => i.op === "RUN" && i.stage === 0).map((i) => i.args).join(" ");
    const removed = (/rm -rf ((?:dist\/\S+ ?)+)/.exec(buildRuns)?.[1] ?? "").trim().split(/\s+/);
    expect(removed).toEqual(["dist/demo", "dist/cli/demo*.js*", "dist/netns/cluster.js*", "dist/netns/topology.js*", "dist/netns/dnsmasq.js*"]);
    // Each pattern as the sources it removes the output of: a folder, or files (`.js*` also
    // takes the source map).
    const gone = removed.map((p) => {
      const src = p.replace(/^dist\//, "src/").replace(/\.js\*$/, ".ts").replace(/[.]/g, "\\.").replace(/\*/g, "[^/]*");
      return new RegExp(p.endsWith(".js*") ? `^${src}$` : `^${src}/`);
    });
    const sources = (readdirSync(path.join(repo, "src"), { recursive: true }) as string[])
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `src/${f.split(path.sep).join("/")}`);
    const isGone = (f: string): boolean => gone.some((g) => g.test(f));
    for (const g of gone) expect(sources.some((f) => g.test(f)), `rm ${String(g)}: no such source`).toBe(true);
    for (const f of ["src/cli/demo.ts", "src/demo/starwars-cluster.ts", "src/netns/cluster.ts"]) expect(isGone(f), f).toBe(true);
    expect(isGone("src/netns/exec.ts")).toBe(false);
    let checked = 0;
    for (const file of sources.filter((f) => !isGone(f))) {
      const text = readFileSync(path.join(repo, file), "utf8");
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)).replace(/\.js$/, ".ts");
        checked++;
        // The command dispatcher loads the demo lazily and answers its absence itself.
        if (file === "src/cli/main.ts" && target === "src/cli/demo.ts") continue;
        expect(isGone(target), `${file} imports ${m[1]}, which the image leaves out`).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  // `npm test` builds dist/ first.
  const built = path.join(repo, "dist/cli/main.js");
  if (!existsSync(built) && process.env["CI"] === "true") throw new Error(`${built} is missing: run npm run build`);
  it.skipIf(!existsSync(built))("without the demo, `l7proxy demo` says why and the other commands are still listed", async () => {
    const exec = promisify(execFile);
    const result = (args: string[], main: string) =>
      exec(process.execPath, [main, ...args]).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    // The source build has the demo.
    expect((await result(["demo", "--help"], built)).stdout).toContain("Usage: l7proxy demo");
    // The image's dist/cli has main.js and no demo.js.
    const dir = mkdtempSync(path.join(tmpdir(), "l7proxy-image-cli-"));
    try {
      mkdirSync(path.join(dir, "dist/cli"), { recursive: true });
      copyFileSync(built, path.join(dir, "dist/cli/main.js"));
      copyFileSync(path.join(repo, "package.json"), path.join(dir, "package.json"));
      const main = path.join(dir, "dist/cli/main.js");
      const demo = await result(["demo"], main);
      expect(demo.code).toBe(1);
      expect(demo.stderr).toBe("l7proxy demo: the demo is not part of this installation (the container image leaves it out).\nRun it from a source checkout: npm ci && sudo npm start\n");
      const help = await result(["--help"], main);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^ {2}run {7}run the transparent proxy/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
