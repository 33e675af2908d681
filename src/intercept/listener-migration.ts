// Hitless restarts: the old and the new proxy share the listening port with SO_REUSEPORT.
// When the old one closes its listener, connections that the kernel had already queued on it
// (handshake done, not yet accepted) would be reset; with net.ipv4.tcp_migrate_req=1 the
// kernel moves them to another listener of the same group instead (Linux 5.14+). The sysctl
// is per network namespace; set it here if we may, and say so if we cannot.

import { readFile, writeFile } from "node:fs/promises";

const SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req";

export async function enableListenerMigration(): Promise<{ enabled: boolean; reason?: string }> {
  try {
    if ((await readFile(SYSCTL, "utf8")).trim() === "1") return { enabled: true };
    await writeFile(SYSCTL, "1\n");
    return { enabled: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      enabled: false,
      reason:
        code === "ENOENT"
          ? "the kernel has no net.ipv4.tcp_migrate_req (needs Linux 5.14+)"
          : `cannot set net.ipv4.tcp_migrate_req=1 (${code ?? String(err)}); set it on the node so restarts lose no queued connection`,
    };
  }
}
