// Files and directories -> policies. Directories are walked recursively in sorted order so
// that the same tree always loads the same way; hidden entries are skipped because Kubernetes
// ConfigMap mounts keep a second copy of every file under "..data" and timestamped dirs.

import { readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { emptySummary, type LoadResult } from "./load-result.js";
import { parsePolicyText } from "./parse-text.js";

const POLICY_FILE = /\.(ya?ml|json)$/i;
// A policy file this large is a mistake or an attack; refuse it rather than exhaust memory.
const MAX_POLICY_FILE_BYTES = 16 * 1024 * 1024;

export async function loadPolicyPaths(paths: readonly string[]): Promise<LoadResult> {
  const result: LoadResult = { policies: [], diagnostics: [], files: [] };
  const seen = new Set<string>();
  for (const p of paths) {
    const files = await expand(p, result, new Set());
    for (const file of files) {
      const real = await realpath(file).catch(() => file);
      if (seen.has(real)) continue;
      seen.add(real);
      await loadFile(file, result);
    }
  }
  return result;
}

async function expand(p: string, result: LoadResult, visitedDirs: Set<string>): Promise<string[]> {
  let info;
  try {
    info = await stat(p);
  } catch (err) {
    fileError(result, p, `cannot read: ${describeFsError(err)}`);
    return [];
  }
  if (info.isFile()) return [p];
  if (!info.isDirectory()) {
    fileError(result, p, "not a file or directory");
    return [];
  }
  const real = await realpath(p);
  if (visitedDirs.has(real)) return [];
  visitedDirs.add(real);
  let entries: string[];
  try {
    entries = (await readdir(p)).filter((e) => !e.startsWith(".")).sort();
  } catch (err) {
    fileError(result, p, `cannot read directory: ${describeFsError(err)}`);
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    const child = path.join(p, entry);
    const childInfo = await stat(child).catch(() => undefined);
    if (childInfo?.isDirectory() === true) out.push(...(await expand(child, result, visitedDirs)));
    else if (POLICY_FILE.test(entry)) out.push(child);
  }
  return out;
}

async function loadFile(file: string, result: LoadResult): Promise<void> {
  let text: string;
  try {
    const info = await stat(file);
    if (info.size > MAX_POLICY_FILE_BYTES) {
      fileError(result, file, `file is ${info.size} bytes, larger than the ${MAX_POLICY_FILE_BYTES}-byte limit`);
      return;
    }
    text = await readFile(file, "utf8");
  } catch (err) {
    fileError(result, file, `cannot read: ${describeFsError(err)}`);
    return;
  }
  const one = parsePolicyText(text, file);
  result.policies.push(...one.policies);
  result.diagnostics.push(...one.diagnostics);
  result.files.push(...one.files);
}

function fileError(result: LoadResult, file: string, message: string): void {
  result.files.push(emptySummary(file));
  result.diagnostics.push({ severity: "error", code: "L7P_ERR_POLICY_FILE", file, line: 0, col: 0, fieldPath: "", message });
}

function describeFsError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  return err instanceof Error ? err.message : String(err);
}
