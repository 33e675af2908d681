// A cheap fingerprint of a set of files and directories (path, inode, size, mtime), used to
// notice policy and endpoint changes by polling. Polling is deliberate: editors and
// Kubernetes ConfigMap mounts replace files through renames and symlink swaps, which
// inotify-based watching misses or reports on the wrong path; a 250 ms stat walk of a
// policy directory is cheap and never misses a change.

import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

async function walk(path: string, out: string[]): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    out.push(`${path}:missing`);
    return;
  }
  if (st.isDirectory()) {
    const names = (await readdir(path)).sort();
    for (const name of names) {
      if (name.startsWith("..")) continue; // ConfigMap mounts' timestamped dirs; ..data is followed via stat
      await walk(join(path, name), out);
    }
  } else {
    out.push(`${path}:${st.ino}:${st.size}:${st.mtimeMs}`);
  }
}

export async function fingerprint(paths: readonly string[]): Promise<string> {
  const out: string[] = [];
  for (const p of paths) await walk(p, out);
  return out.join("\n");
}
