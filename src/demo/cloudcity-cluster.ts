// Cilium's gRPC story as a small cluster in network namespaces: Cloud City's door manager
// (cloudcity.DoorManager on 50051), a public terminal, and a node namespace running
// `l7proxy run`. Used by `l7proxy demo grpc` (which narrates).

import { join } from "node:path";
import { NetnsCluster, REPO_ROOT } from "../netns/cluster.js";
import { runIn } from "../netns/exec.js";
import type { DoorCallResult, DoorMethod } from "./cloudcity.js";

export const CLOUDCITY_DIR = join(REPO_ROOT, "proxy-config", "cloudcity");
export const DOOR_MANAGER = "10.204.0.10:50051";

export class CloudCityCluster extends NetnsCluster {
  constructor(tag: string) {
    super(tag, {
      endpointsFile: join(CLOUDCITY_DIR, "endpoints.yaml"),
      servers: [{ pod: "cc-door-mgr", script: "demo/cloudcity.js", args: ["serve", "50051"] }],
    });
  }

  async applyPolicy(file: string | null): Promise<void> {
    await this.applyPolicies(file === null ? [] : [join(CLOUDCITY_DIR, file)]);
  }

  /** The terminal calls the door manager (a real @grpc/grpc-js client in the terminal's namespace). */
  async call(method: DoorMethod, doorId = 1): Promise<DoorCallResult> {
    const r = await runIn(this.topo.pod("terminal-87").netns, process.execPath, [join(REPO_ROOT, "dist", "demo", "cloudcity.js"), "call", DOOR_MANAGER, method, String(doorId)], {
      allowFail: true,
      timeoutMs: 20_000,
    });
    try {
      return JSON.parse(r.stdout) as DoorCallResult;
    } catch {
      return { method, ok: false, details: `client failed: ${r.stderr.trim().split("\n").at(-1) ?? r.code}` };
    }
  }
}
